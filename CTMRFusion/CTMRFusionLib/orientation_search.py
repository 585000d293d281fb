"""Initial alignment that escapes wrong optima: a search over orientations and translations scored by MI.

CT and MR frames can differ by whole-axis flips (feet-first vs head-first, prone vs supine) and by large
tilts, which put the right answer far outside any gradient method's capture range. The search aligns the
body-mask centroids and scores, by Mattes MI on a coarse grid, a set of candidate rotations about them:
the 24 axis-aligned rotations, each also tilted by ±``search_angle_deg`` about each axis, and the rotations
that align the two masks' principal axes. The best few distinct candidates (more than 40° apart) get a
small grid of translations and a short optimisation each; the lowest final metric wins.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .body_mask import mask_points_lps
from .progress import CancelToken, ProgressCallback, ProgressEvent, report


@dataclass
class SearchCandidate:
    """One scored start: rotation matrix (LPS), translation (mm), Mattes MI (lower is better)."""

    rotation: np.ndarray
    translation_mm: np.ndarray
    metric: float

    def transform(self, center_lps: np.ndarray) -> sitk.Euler3DTransform:
        euler = sitk.Euler3DTransform()
        euler.SetCenter(np.asarray(center_lps, dtype=float).tolist())
        euler.SetMatrix(self.rotation.ravel().tolist(), 1e-6)
        euler.SetTranslation(np.asarray(self.translation_mm, dtype=float).tolist())
        return euler


def axis_aligned_rotations() -> list[np.ndarray]:
    """The 24 proper rotations that map coordinate axes onto coordinate axes (identity first)."""
    rotations = []
    for permutation in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            matrix = np.zeros((3, 3))
            for row, (column, sign) in enumerate(zip(permutation, signs)):
                matrix[row, column] = sign
            if np.linalg.det(matrix) > 0:
                rotations.append(matrix)
    return rotations


def _rotation_about_axis(axis: int, angle_rad: float) -> np.ndarray:
    cosine, sine = np.cos(angle_rad), np.sin(angle_rad)
    i, j = [a for a in range(3) if a != axis]
    matrix = np.eye(3)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = cosine, -sine, sine, cosine
    return matrix


def principal_axes(mask: sitk.Image) -> np.ndarray:
    """3x3 matrix whose columns are the mask's principal axes (LPS), largest spread first."""
    values, vectors = np.linalg.eigh(np.cov(mask_points_lps(mask, 50000).T))
    return vectors[:, ::-1]


def candidate_rotations(angle_deg: float, fixed_axes: np.ndarray | None = None,
                        moving_axes: np.ndarray | None = None) -> list[np.ndarray]:
    """Rotations (fixed→moving, LPS) to score: axis-aligned, their tilts by ±angle, principal-axes fits."""
    tilts = [np.eye(3)]
    if angle_deg > 0:
        for axis in range(3):
            for sign in (1.0, -1.0):
                tilts.append(_rotation_about_axis(axis, sign * np.deg2rad(angle_deg)))
    rotations = [base @ tilt for base in axis_aligned_rotations() for tilt in tilts]
    if fixed_axes is not None and moving_axes is not None:
        for signs in itertools.product((1.0, -1.0), repeat=3):
            rotation = moving_axes @ np.diag(signs) @ fixed_axes.T
            if np.linalg.det(rotation) > 0:
                rotations.append(rotation)
    return rotations


def _angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) of the rotation taking ``a`` to ``b``."""
    cosine = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def _metric_method(options, fixed_mask) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(options.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(max(options.sampling_percentage, 0.2), options.random_seed)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    method.SetInterpolator(sitk.sitkLinear)
    return method


def _evaluate(method, fixed, moving, transform) -> float:
    method.SetInitialTransform(transform, inPlace=False)
    try:
        return float(method.MetricEvaluate(fixed, moving))
    except RuntimeError:  # too few samples overlap: not a candidate
        return float("inf")


def search_orientation(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_center_lps: np.ndarray,
    moving_center_lps: np.ndarray,
    options,
    fixed_mask: sitk.Image | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    principal_axes_pair: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[sitk.Euler3DTransform, list[SearchCandidate]]:
    """Best Euler3D start (fixed→moving, LPS, centred on the fixed centroid) and the scored candidates.

    ``fixed``/``moving`` should already be on the coarse search grid (``options.search_spacing_mm``), as
    float images with clipped intensities; the centres are the body-mask centroids in LPS mm;
    ``principal_axes_pair``: (fixed, moving) principal axes of the body masks, adding their alignments.
    """
    fixed_center = np.asarray(fixed_center_lps, dtype=float)
    base_translation = np.asarray(moving_center_lps, dtype=float) - fixed_center
    method = _metric_method(options, fixed_mask)

    rotations = candidate_rotations(options.search_angle_deg, *(principal_axes_pair or (None, None)))
    candidates: list[SearchCandidate] = []
    for index, rotation in enumerate(rotations):
        if cancel is not None:
            cancel.raise_if_cancelled()
        candidate = SearchCandidate(rotation, base_translation.copy(), float("nan"))
        candidate.metric = _evaluate(method, fixed, moving, candidate.transform(fixed_center))
        candidates.append(candidate)
        report(progress, ProgressEvent("initialize", 0.3 * (index + 1) / len(rotations),
                                       f"Orientation {index + 1}/{len(rotations)}", metric=candidate.metric))
    candidates.sort(key=lambda c: c.metric)

    step = options.search_translation_step_mm
    offsets = [np.array(o) * step for o in itertools.product((-1.0, 0.0, 1.0), repeat=3)]
    shortlisted: list[SearchCandidate] = []
    for candidate in candidates:  # best first, each more than 40 degrees from those already kept
        if len(shortlisted) == options.search_candidates or not np.isfinite(candidate.metric):
            break
        if all(_angle_between(candidate.rotation, kept.rotation) > 40.0 for kept in shortlisted):
            shortlisted.append(candidate)
    for number, candidate in enumerate(shortlisted):
        for offset in offsets:
            if cancel is not None:
                cancel.raise_if_cancelled()
            trial = SearchCandidate(candidate.rotation, base_translation + offset, float("nan"))
            trial.metric = _evaluate(method, fixed, moving, trial.transform(fixed_center))
            if trial.metric < candidate.metric:
                candidate.translation_mm, candidate.metric = trial.translation_mm, trial.metric
        report(progress, ProgressEvent("initialize", 0.3 + 0.3 * (number + 1) / len(shortlisted),
                                       f"Translations for candidate {number + 1}/{len(shortlisted)}",
                                       metric=candidate.metric))

    best_transform, best_metric = None, float("inf")
    for number, candidate in enumerate(shortlisted):
        if cancel is not None:
            cancel.raise_if_cancelled()
        refined, metric = _refine(fixed, moving, candidate.transform(fixed_center), options, fixed_mask, cancel)
        if metric < best_metric:
            best_transform, best_metric = refined, metric
        report(progress, ProgressEvent("initialize", 0.6 + 0.4 * (number + 1) / len(shortlisted),
                                       f"Refined candidate {number + 1}/{len(shortlisted)}", metric=metric))
    if best_transform is None:
        raise RuntimeError("No orientation candidate overlapped the fixed image.")
    return best_transform, candidates


def _refine(fixed, moving, start, options, fixed_mask, cancel) -> tuple[sitk.Euler3DTransform, float]:
    """Short coarse-grid optimisation of one candidate; returns the transform and its final metric."""
    method = _metric_method(options, fixed_mask)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0 * options.search_spacing_mm / 6.0, minStep=0.01, numberOfIterations=options.search_iterations,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    transform = sitk.Euler3DTransform(start)
    method.SetInitialTransform(transform, inPlace=True)
    if cancel is not None:
        method.AddCommand(sitk.sitkIterationEvent, lambda: cancel.cancelled and method.StopRegistration())
    try:
        method.Execute(fixed, moving)
    except RuntimeError:
        return transform, float("inf")
    if cancel is not None:
        cancel.raise_if_cancelled()
    return transform, float(method.GetMetricValue())
