"""Target registration error (TRE) of a rigid CT→MR transform on paired landmarks.

A CT point p and its MR partner q give TRE = |T(p) - q| (mm) for a fixed→moving transform T in LPS, per
point and as mean / median / max / RMS; "before" uses the identity (the images' own headers), "after" the
registration result.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import LandmarkError, LandmarkSet


def match_landmarks(
    fixed: LandmarkSet, moving: LandmarkSet, by: str = "label"
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pair fixed (CT) and moving (MR) landmarks by ``label`` or by ``order``: (labels, fixed, moving).

    By label, only labels present in both sets are paired (at least one is needed) and a warning names the
    points left without a partner; labels must be unique. By order, both sets need the same number of points.
    """
    if by == "order":
        if len(fixed) != len(moving):
            raise LandmarkError(
                f"Landmark counts differ: {len(fixed)} CT points and {len(moving)} MR points; "
                "pairing by order needs equal counts."
            )
        return list(fixed.labels), fixed.points_lps, moving.points_lps
    if by != "label":
        raise LandmarkError(f"Unknown pairing '{by}' (use 'label' or 'order').")
    for name, landmark_set in (("CT", fixed), ("MR", moving)):
        if len(set(landmark_set.labels)) != len(landmark_set.labels):
            raise LandmarkError(f"{name} landmark labels are not unique; pair by order instead.")
    moving_index = {label: n for n, label in enumerate(moving.labels)}
    common = [label for label in fixed.labels if label in moving_index]
    if not common:
        raise LandmarkError("No landmark label appears in both the CT and the MR set.")
    unpaired = [f"CT {label}" for label in fixed.labels if label not in moving_index]
    unpaired += [f"MR {label}" for label in moving.labels if label not in set(fixed.labels)]
    if unpaired:
        shown = ", ".join(unpaired[:10]) + (f" and {len(unpaired) - 10} more" if len(unpaired) > 10 else "")
        message = f"{len(unpaired)} landmark(s) have no partner with the same label and are left out: {shown}"
        warnings.warn(message, UserWarning, stacklevel=1)  # one location: shown once however often pairs are made
    fixed_index = {label: n for n, label in enumerate(fixed.labels)}
    return (
        common,
        fixed.points_lps[[fixed_index[label] for label in common]],
        moving.points_lps[[moving_index[label] for label in common]],
    )


def summary_line(before: dict, after: dict) -> str:
    """One line for people: the count, the mean before, and mean / median / max after (mm)."""
    return (
        f"over {after['count']} pairs: before {before['mean_mm']:.2f} mm mean; after {after['mean_mm']:.2f} mm "
        f"mean, {after['median_mm']:.2f} median, {after['max_mm']:.2f} max"
    )


def _summary(errors: np.ndarray) -> dict:
    return {
        "mean_mm": float(np.mean(errors)),
        "median_mm": float(np.median(errors)),
        "max_mm": float(np.max(errors)),
        "rms_mm": float(np.sqrt(np.mean(errors**2))),
        "std_mm": float(np.std(errors)),
        "count": int(errors.size),
    }


@dataclass
class TargetRegistrationError:
    """Per-point and summary TRE (mm) of a transform on landmark pairs, with the identity as "before"."""

    labels: list[str]
    before_mm: np.ndarray
    after_mm: np.ndarray

    @property
    def before(self) -> dict:
        return _summary(self.before_mm)

    @property
    def after(self) -> dict:
        return _summary(self.after_mm)

    @classmethod
    def from_dict(cls, record: dict) -> TargetRegistrationError:
        """The inverse of :meth:`to_dict` (a report's ``"tre"``)."""
        points = record["points"]
        return cls(
            [p["label"] for p in points],
            np.array([p["before_mm"] for p in points], dtype=float),
            np.array([p["after_mm"] for p in points], dtype=float),
        )

    def to_dict(self) -> dict:
        return {
            "points": [
                {"label": label, "before_mm": float(b), "after_mm": float(a)}
                for label, b, a in zip(self.labels, self.before_mm, self.after_mm)
            ],
            "before": self.before,
            "after": self.after,
        }


def point_errors(transform: sitk.Transform, fixed_points_lps: np.ndarray, moving_points_lps: np.ndarray) -> np.ndarray:
    """|T(p) - q| in mm for each pair, T a fixed→moving LPS transform."""
    mapped = np.array([transform.TransformPoint([float(v) for v in p]) for p in fixed_points_lps]).reshape(-1, 3)
    return np.linalg.norm(mapped - np.asarray(moving_points_lps, dtype=float).reshape(-1, 3), axis=1)


def target_registration_error(
    transform: sitk.Transform, fixed: LandmarkSet, moving: LandmarkSet, by: str = "label"
) -> TargetRegistrationError:
    """TRE of a fixed→moving (CT→MR) LPS ``transform`` on paired landmarks, before (identity) and after."""
    labels, fixed_points, moving_points = match_landmarks(fixed, moving, by)
    return TargetRegistrationError(
        labels,
        point_errors(sitk.Transform(), fixed_points, moving_points),
        point_errors(transform, fixed_points, moving_points),
    )
