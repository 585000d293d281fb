"""Initial alignment that escapes wrong optima: a search over orientations and translations scored by MI.

CT and MR frames can differ by whole-axis flips (feet-first vs head-first, prone vs supine), which puts the
right answer far outside any gradient method's capture range. The search aligns the body-mask centroids,
scores the 24 axis-aligned rotations about them, then a small grid of translations for the best few, on a
coarse grid, and refines the best candidates with a short optimisation, keeping the lowest metric.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

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
) -> tuple[sitk.Euler3DTransform, list[SearchCandidate]]:
    """Best Euler3D start (fixed→moving, LPS, centred on the fixed centroid) and the scored candidates.

    ``fixed``/``moving`` should already be on the coarse search grid (``options.search_spacing_mm``), as
    float images with clipped intensities; the centres are the body-mask centroids in LPS mm.
    """
    fixed_center = np.asarray(fixed_center_lps, dtype=float)
    base_translation = np.asarray(moving_center_lps, dtype=float) - fixed_center
    method = _metric_method(options, fixed_mask)

    rotations = axis_aligned_rotations()
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
    shortlisted = candidates[: options.search_candidates]
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
