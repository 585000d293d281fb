"""Landmark (fiducial) pairs and target registration error (TRE).

Point sets come from Slicer markups nodes, Slicer ``.mrk.json`` and ``.fcsv`` files, or CSV files, and are
held in **LPS mm** (the frame of the registration transforms). A CT point p and its MR partner q give
TRE = |T(p) - q| for a fixed→moving transform T (CT→MR), per point and as mean / median / max / RMS;
"before" uses the identity (the images' own headers), "after" the registration result.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import frames


class LandmarkError(ValueError):
    """Landmark files or pairs that cannot be used; the message says why."""


@dataclass
class LandmarkSet:
    """Named points in LPS mm."""

    labels: list[str]
    points_lps: np.ndarray  # (N, 3)

    def __post_init__(self) -> None:
        self.points_lps = np.asarray(self.points_lps, dtype=float).reshape(-1, 3)
        if len(self.labels) != len(self.points_lps):
            raise LandmarkError("Each landmark needs exactly one label.")
        if not np.all(np.isfinite(self.points_lps)):
            raise LandmarkError("Landmark coordinates contain NaN or infinite values.")

    def __len__(self) -> int:
        return len(self.labels)


def _coordinate_flip(system: str) -> bool:
    """True if points in ``system`` must be flipped to reach LPS."""
    system = str(system).strip().upper()
    if system in ("LPS", "1"):
        return False
    if system in ("RAS", "0"):
        return True
    raise LandmarkError(f"Unknown coordinate system '{system}' (expected LPS or RAS).")


def _read_markups_json(path: Path) -> LandmarkSet:
    document = json.loads(path.read_text())
    markups = document.get("markups") or []
    if not markups:
        raise LandmarkError(f"{path.name}: no markups in the file.")
    markup = markups[0]
    flip = _coordinate_flip(markup.get("coordinateSystem", "LPS"))
    labels, points = [], []
    for number, point in enumerate(markup.get("controlPoints", []), start=1):
        labels.append(point.get("label") or str(number))
        points.append(point["position"])
    points = np.array(points, dtype=float).reshape(-1, 3)
    return LandmarkSet(labels, frames.ras_to_lps_points(points) if flip else points)


def _read_fcsv(path: Path) -> LandmarkSet:
    flip = True  # Slicer's legacy default is RAS
    labels, points = [], []
    with path.open() as handle:
        for line in handle:
            if line.startswith("#"):
                if "CoordinateSystem" in line:
                    flip = _coordinate_flip(line.split("=", 1)[1])
                continue
            if not line.strip():
                continue
            fields = next(csv.reader([line]))
            points.append([float(v) for v in fields[1:4]])
            labels.append(fields[11] if len(fields) > 11 and fields[11] else fields[0])
    points = np.array(points, dtype=float).reshape(-1, 3)
    return LandmarkSet(labels, frames.ras_to_lps_points(points) if flip else points)


def _read_csv(path: Path, coordinate_system: str) -> LandmarkSet:
    flip = _coordinate_flip(coordinate_system)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise LandmarkError(f"{path.name}: no rows.")
    keys = {key.strip().lower(): key for key in rows[0]}
    missing = [axis for axis in ("x", "y", "z") if axis not in keys]
    if missing:
        raise LandmarkError(f"{path.name}: needs columns x, y, z (missing {', '.join(missing)}).")
    label_key = keys.get("label") or keys.get("id") or keys.get("name")
    labels = [row[label_key] if label_key else str(n) for n, row in enumerate(rows, start=1)]
    try:
        points = np.array([[float(row[keys[a]]) for a in ("x", "y", "z")] for row in rows])
    except ValueError as error:
        raise LandmarkError(f"{path.name}: non-numeric coordinate ({error}).") from error
    return LandmarkSet(labels, frames.ras_to_lps_points(points) if flip else points)


def read_landmarks(path, csv_coordinate_system: str = "LPS") -> LandmarkSet:
    """Read a landmark file: Slicer ``.mrk.json``, Slicer ``.fcsv`` or CSV (``label|id,x,y,z``).

    JSON and FCSV files declare their coordinate system; plain CSV is taken as ``csv_coordinate_system``.
    The result is in LPS mm.
    """
    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"Landmark file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith(".json"):
            return _read_markups_json(path)
        if name.endswith(".fcsv"):
            return _read_fcsv(path)
        if name.endswith(".csv") or name.endswith(".txt"):
            return _read_csv(path, csv_coordinate_system)
    except (KeyError, IndexError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LandmarkError(f"{path.name}: unreadable landmark file ({error}).") from error
    raise LandmarkError(f"{path.name}: unknown landmark format (use .mrk.json, .fcsv or .csv).")


def landmarks_from_markups_node(markups_node) -> LandmarkSet:
    """Control points of a Slicer markups node, at their world positions (parent transforms applied), LPS."""
    labels, points = [], []
    position = [0.0, 0.0, 0.0]
    for index in range(markups_node.GetNumberOfControlPoints()):
        markups_node.GetNthControlPointPositionWorld(index, position)
        points.append(list(position))
        labels.append(markups_node.GetNthControlPointLabel(index) or str(index + 1))
    return LandmarkSet(labels, frames.ras_to_lps_points(np.array(points).reshape(-1, 3)))


def fill_markups_node(markups_node, landmarks: LandmarkSet) -> None:
    """Replace a markups node's control points with ``landmarks`` (written in RAS, as Slicer stores them)."""
    markups_node.RemoveAllControlPoints()
    for label, point in zip(landmarks.labels, frames.lps_to_ras_points(landmarks.points_lps)):
        index = markups_node.AddControlPoint(point.tolist())
        markups_node.SetNthControlPointLabel(index, label)


def match_landmarks(fixed: LandmarkSet, moving: LandmarkSet, by: str = "label") -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pair fixed (CT) and moving (MR) landmarks by ``label`` or by ``order``: (labels, fixed, moving).

    By label, only labels present in both sets are paired (at least one is needed); labels must be
    unique. By order, both sets need the same number of points.
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
    fixed_index = {label: n for n, label in enumerate(fixed.labels)}
    return (
        common,
        fixed.points_lps[[fixed_index[label] for label in common]],
        moving.points_lps[[moving_index[label] for label in common]],
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


def fit_rigid_transform(fixed_points_lps, moving_points_lps) -> sitk.Euler3DTransform:
    """Least-squares rigid transform (Kabsch/Horn) mapping fixed points onto moving points, LPS.

    Centred on the fixed points' centroid. Needs at least 3 non-collinear pairs.
    """
    fixed_points = np.asarray(fixed_points_lps, dtype=float).reshape(-1, 3)
    moving_points = np.asarray(moving_points_lps, dtype=float).reshape(-1, 3)
    if len(fixed_points) != len(moving_points) or len(fixed_points) < 3:
        raise LandmarkError("A rigid fit needs at least 3 point pairs of equal count.")
    fixed_center, moving_center = fixed_points.mean(axis=0), moving_points.mean(axis=0)
    covariance = (fixed_points - fixed_center).T @ (moving_points - moving_center)
    u, singular, vt = np.linalg.svd(covariance)
    if singular[1] < 1e-9 * max(singular[0], 1e-12):
        raise LandmarkError("The landmarks are collinear; a rigid fit is undefined.")
    correction = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    rotation = vt.T @ correction @ u.T
    transform = sitk.Euler3DTransform()
    transform.SetCenter(fixed_center.tolist())
    transform.SetMatrix(rotation.ravel().tolist(), 1e-6)
    transform.SetTranslation((moving_center - fixed_center).tolist())
    return transform
