"""Initial alignment that escapes wrong optima: a search over orientations and translations scored by MI.

CT and MR frames can differ by whole-axis flips (feet-first vs head-first, prone vs supine) and by large
tilts, which put the right answer far outside any gradient method's capture range. The search aligns the
body-mask centroids and scores, by Mattes MI on a coarse grid, a set of candidate rotations about them:
the 24 axis-aligned rotations, each also tilted by ±``search_angle_deg`` about each axis, and the rotations
that align the two masks' principal axes. The best few distinct candidates (more than 40° apart) get a
small grid of translations and a short optimisation each; they are returned best first, and the registration
picks among them (and the headers' own placement) on the pyramid's finer grids
(:mod:`~CTMRFusionLib.registration.start_selection`).
:func:`polish_start` runs those last stages (tilts, translations, short optimisation) around one given
start, in rounds of shrinking size: the deep initializer's finish.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.point_products import cross_moments
from CTMRFusionLib.core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from CTMRFusionLib.imaging.body_mask import mask_points_lps
from CTMRFusionLib.registration.itk_execution import execute
from CTMRFusionLib.registration.mi_refinement import metric_method
from CTMRFusionLib.registration.mi_score import MutualInformationScore

#: CT samples scoring each candidate on the search grid: the ranking by MI from 8000 samples matched SimpleITK's
#: Mattes MI over every mask voxel (Spearman 0.997 over the 172 rotations of the sample pair, the same best
#: eight) at a third of its time.
SEARCH_SAMPLES = 10_000


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
    points = mask_points_lps(mask, 50000).T
    centred = points - points.mean(axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(cross_moments(centred, centred) / max(points.shape[1] - 1, 1))  # covariance
    return vectors[:, ::-1]


def tilt_rotations(angle_deg: float) -> list[np.ndarray]:
    """The identity and, for an angle > 0, the rotations by ±``angle_deg`` about each axis."""
    tilts = [np.eye(3)]
    if angle_deg > 0:
        for axis in range(3):
            for sign in (1.0, -1.0):
                tilts.append(_rotation_about_axis(axis, sign * np.deg2rad(angle_deg)))
    return tilts


def candidate_rotations(
    angle_deg: float, fixed_axes: np.ndarray | None = None, moving_axes: np.ndarray | None = None
) -> list[np.ndarray]:
    """Rotations (fixed→moving, LPS) to score: axis-aligned, their tilts by ±angle, principal-axes fits."""
    rotations = [base @ tilt for base in axis_aligned_rotations() for tilt in tilt_rotations(angle_deg)]
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


def _score(options, fixed, moving, fixed_mask) -> MutualInformationScore:
    """The search grid's MI score: :data:`SEARCH_SAMPLES` CT samples, the options' bins and seed."""
    bins, seed = options.histogram_bins, options.random_seed
    return MutualInformationScore(fixed, moving, fixed_mask, bins, SEARCH_SAMPLES, seed)


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
    base: float = 0.0,
    share: float = 1.0,
) -> tuple[list[sitk.Euler3DTransform], list[SearchCandidate]]:
    """The refined shortlist, best first (Euler3D, fixed→moving, LPS, centred on the fixed centroid), and all
    scored candidates.

    ``fixed``/``moving`` should already be on the coarse search grid (``options.search_spacing_mm``), as
    float images with clipped intensities; the centres are the body-mask centroids in LPS mm;
    ``principal_axes_pair``: (fixed, moving) principal axes of the body masks, adding their alignments.
    Progress events run from ``base`` to ``base + share`` of the whole registration.
    """
    fixed_center = np.asarray(fixed_center_lps, dtype=float)
    base_translation = np.asarray(moving_center_lps, dtype=float) - fixed_center
    score = _score(options, fixed, moving, fixed_mask)

    rotations = candidate_rotations(options.search_angle_deg, *(principal_axes_pair or (None, None)))
    candidates: list[SearchCandidate] = []
    for index, rotation in enumerate(rotations):
        if cancel is not None:
            cancel.raise_if_cancelled()
        candidate = SearchCandidate(rotation, base_translation.copy(), float("nan"))
        candidate.metric = score(candidate.transform(fixed_center))
        candidates.append(candidate)
        report(
            progress,
            ProgressEvent(
                "initialize",
                base + share * 0.3 * (index + 1) / len(rotations),
                f"Orientation {index + 1}/{len(rotations)}",
                metric=candidate.metric,
            ),
        )
    candidates.sort(key=lambda c: c.metric)

    shortlisted: list[SearchCandidate] = []
    for candidate in candidates:  # best first, each more than 40 degrees from those already kept
        if len(shortlisted) == options.search_candidates or not np.isfinite(candidate.metric):
            break
        if all(_angle_between(candidate.rotation, kept.rotation) > 40.0 for kept in shortlisted):
            shortlisted.append(candidate)
    refined = _translate_and_refine(
        score,
        fixed,
        moving,
        shortlisted,
        fixed_center,
        options,
        fixed_mask,
        progress,
        cancel,
        base + 0.3 * share,
        0.7 * share,
    )
    return refined, candidates


def _best_translation(score, candidate: SearchCandidate, fixed_center, options, cancel) -> None:
    """Move ``candidate`` to the best of the 27 translations within ±``search_translation_step_mm`` of its own
    (each axis −step, 0, +step) by the metric, in place."""
    step = options.search_translation_step_mm
    base = candidate.translation_mm.copy()
    for offset in itertools.product((-step, 0.0, step), repeat=3):
        if cancel is not None:
            cancel.raise_if_cancelled()
        trial = SearchCandidate(candidate.rotation, base + np.array(offset), float("nan"))
        trial.metric = score(trial.transform(fixed_center))
        if trial.metric < candidate.metric:
            candidate.translation_mm, candidate.metric = trial.translation_mm, trial.metric


def _translate_and_refine(
    score,
    fixed,
    moving,
    shortlisted: list[SearchCandidate],
    fixed_center,
    options,
    fixed_mask,
    progress,
    cancel,
    base: float = 0.3,
    share: float = 0.7,
) -> sitk.Euler3DTransform:
    """Each shortlisted candidate gets its best translation, then a short optimisation; the refined candidates
    that still overlap, lowest final metric first. Progress runs from ``base`` to ``base + share``."""
    for number, candidate in enumerate(shortlisted):
        _best_translation(score, candidate, fixed_center, options, cancel)
        report(
            progress,
            ProgressEvent(
                "initialize",
                base + share * 0.4 * (number + 1) / len(shortlisted),
                f"Translations for candidate {number + 1}/{len(shortlisted)}",
                metric=candidate.metric,
            ),
        )
    refined_all: list[tuple[float, sitk.Euler3DTransform]] = []
    for number, candidate in enumerate(shortlisted):
        if cancel is not None:
            cancel.raise_if_cancelled()
        refined, metric = refine_on_grid(fixed, moving, candidate.transform(fixed_center), options, fixed_mask, cancel)
        if np.isfinite(metric):
            refined_all.append((metric, refined))
        report(
            progress,
            ProgressEvent(
                "initialize",
                base + share * (0.4 + 0.6 * (number + 1) / len(shortlisted)),
                f"Refined candidate {number + 1}/{len(shortlisted)}",
                metric=metric,
            ),
        )
    if not refined_all:
        raise RuntimeError("No orientation candidate overlapped the fixed image.")
    refined_all.sort(key=lambda scored: scored[0])
    return [transform for _, transform in refined_all]


def polish_start(
    fixed: sitk.Image,
    moving: sitk.Image,
    starts: list[sitk.Euler3DTransform],
    options,
    fixed_mask: sitk.Image | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    base: float = 0.0,
    share: float = 1.0,
) -> sitk.Euler3DTransform:
    """The search's last stages around given starts (the deep initializer's answers), in
    ``deep_polish_rounds`` rounds. Round 1: each start's rotation and its tilts by ±``deep_polish_angle_deg``
    about each axis are scored by MI, the best ``deep_polish_candidates`` get the best of 27 translations
    (±``search_translation_step_mm``) and a short coarse-grid optimisation, and the lowest final metric wins.
    Each further round starts from the winner with half the tilt, 0.4× the translation step and one
    candidate (it leaves shallow coarse optima that the 6 mm grid has next to each other).
    ``fixed``/``moving`` on the search grid as for :func:`search_orientation`; ``starts`` fixed→moving (LPS),
    all with the same centre, which is kept."""
    current = list(starts)
    rounds = options.deep_polish_rounds
    for number in range(rounds):
        winner = _polish_round(
            fixed,
            moving,
            current,
            options,
            fixed_mask,
            progress,
            cancel,
            angle_deg=options.deep_polish_angle_deg * 0.5**number,
            step_mm=options.search_translation_step_mm * 0.4**number,
            candidates=options.deep_polish_candidates if number == 0 else 1,
            base=base + share * number / rounds,
            share=share / rounds,
        )
        current = [winner]  # later rounds start from the winner alone
    return current[0]


def _polish_round(
    fixed, moving, starts, options, fixed_mask, progress, cancel, angle_deg, step_mm, candidates, base, share
) -> sitk.Euler3DTransform:
    center = np.array(starts[0].GetCenter())
    round_options = options.replace(search_translation_step_mm=step_mm)
    score = _score(options, fixed, moving, fixed_mask)
    tilts = tilt_rotations(angle_deg)
    scored = []
    for start in starts:
        rotation = np.array(start.GetMatrix()).reshape(3, 3)
        translation = np.array(start.GetTranslation())
        for tilt in tilts:
            if cancel is not None:
                cancel.raise_if_cancelled()
            candidate = SearchCandidate(rotation @ tilt, translation.copy(), float("nan"))
            candidate.metric = score(candidate.transform(center))
            scored.append(candidate)
    scored.sort(key=lambda c: c.metric)
    shortlisted = [c for c in scored[:candidates] if np.isfinite(c.metric)]
    if not shortlisted:
        return sitk.Euler3DTransform(starts[0])
    return _translate_and_refine(
        score, fixed, moving, shortlisted, center, round_options, fixed_mask, progress, cancel, base, share
    )[0]


def refine_on_grid(fixed, moving, start, options, fixed_mask=None, cancel=None) -> tuple[sitk.Euler3DTransform, float]:
    """Short optimisation of one candidate on the search grid; returns the transform and its final metric (inf
    when too few samples overlap)."""
    method = metric_method(
        fixed, fixed_mask, None, options.replace(sampling_percentage=max(options.sampling_percentage, 0.2)), False
    )
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0 * options.search_spacing_mm / 6.0,
        minStep=0.01,
        numberOfIterations=options.search_iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    transform = sitk.Euler3DTransform(start)
    method.SetInitialTransform(transform, inPlace=True)
    try:
        execute(method, fixed, moving, None if cancel is None else cancel.raise_if_cancelled)
    except RuntimeError:
        return transform, float("inf")
    if cancel is not None:
        cancel.raise_if_cancelled()
    return transform, float(method.GetMetricValue())
