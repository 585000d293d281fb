"""Rigid CT–MR registration on SimpleITK images: Euler3D, Mattes MI, gradient descent, mm pyramid.

Works on images only (LPS); :mod:`CTMRFusionLib.logic` wraps it for MRML nodes and the command line wraps
it for files. The result maps fixed (CT) points to moving (MR) points.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from . import body_mask as masks
from .frames import matrix_to_sitk_euler, sitk_transform_to_matrix
from .image_checks import InvalidInputError, check_volume
from .orientation_search import polish_start, principal_axes, search_orientation, tilt_rotations
from .progress import CancelToken, Cancelled, ProgressCallback, ProgressEvent, report
from .pyramid import resample_to_spacing
from .registration_options import RegistrationOptions

#: Share of the progress bar given to initialisation; the rest is split between pyramid levels.
_INIT_SHARE = 0.3
#: Below this fraction of fixed-mask points landing inside the moving image, the images do not overlap.
_MIN_OVERLAP = 0.10
#: Moving-image voxel size relative to the level's (finer moving images measured 0.3 mm better TRE).
_MOVING_SPACING_RATIO = 2 / 3


@dataclass
class LevelTrace:
    """What happened at one pyramid level: voxel size (mm), iterations, metric per iteration, seconds."""

    level: int
    spacing_mm: float
    iterations: int
    metric: float
    stop_condition: str
    seconds: float
    metric_values: list[float] = field(default_factory=list)


@dataclass
class RigidRegistrationResult:
    """Outcome of :func:`register_rigid`.

    transform: Euler3D, fixed (CT) LPS points → moving (MR) LPS points, rotation about ``center``.
    metric: final Mattes MI at the finest level (negative; lower is better).
    """

    transform: sitk.Euler3DTransform
    initial_transform: sitk.Euler3DTransform
    metric: float
    iterations: int
    levels: list[LevelTrace]
    initializer: str
    elapsed_seconds: float
    timings: dict[str, float]

    def parameters(self) -> dict:
        """Angles (rad, about LPS x, y, z), translation (mm, LPS), centre (mm, LPS) and the 4x4 matrix."""
        values = self.transform.GetParameters()
        return {
            "angles_rad": list(values[:3]),
            "translation_mm": list(values[3:]),
            "center_mm": list(self.transform.GetCenter()),
            "matrix_lps": sitk_transform_to_matrix(self.transform).tolist(),
        }

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters(),
            "metric": self.metric,
            "iterations": self.iterations,
            "initializer": self.initializer,
            "initial_matrix_lps": sitk_transform_to_matrix(self.initial_transform).tolist(),
            "elapsed_seconds": self.elapsed_seconds,
            "timings_seconds": self.timings,
            "levels": [
                {k: v for k, v in vars(level).items() if k != "metric_values"} for level in self.levels
            ],
        }


def _clip_to_mask_percentiles(image: sitk.Image, mask: sitk.Image, percentiles) -> sitk.Image:
    """Float32 copy of ``image`` clamped to intensity percentiles of the voxels inside ``mask``."""
    low, high = masks.percentiles_in_mask(image, mask, percentiles)
    return sitk.Clamp(image, sitk.sitkFloat32, low, max(high, low + 1.0))


def _on_grid(mask: sitk.Image | None, reference: sitk.Image) -> sitk.Image | None:
    if mask is None:
        return None
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def overlap_fraction(fixed_mask: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> float:
    """Fraction of fixed-mask voxels that a linear ``transform`` maps inside the moving image's field of view."""
    points = masks.mask_points_lps(fixed_mask)
    if points.size == 0:
        return 0.0
    matrix = sitk_transform_to_matrix(transform)
    mapped = points @ matrix[:3, :3].T + matrix[:3, 3]
    moving_direction = np.array(moving.GetDirection()).reshape(3, 3)
    continuous = (mapped - np.array(moving.GetOrigin())) @ moving_direction / np.array(moving.GetSpacing())
    inside = np.all((continuous >= -0.5) & (continuous <= np.array(moving.GetSize()) - 0.5), axis=1)
    return float(inside.mean())


def _on_search_grid(fixed, moving, options) -> tuple[sitk.Image, sitk.Image]:
    """Both images smoothed and resampled to the orientation search's ``search_spacing_mm`` grid."""
    return tuple(resample_to_spacing(image, options.search_spacing_mm, options.search_spacing_mm * 2 / 3)
                 for image in (fixed, moving))


def _initial_transform(kind, fixed, moving, fixed_mask, fixed_shape_mask, moving_shape_mask, fixed_center,
                       moving_center, options, progress, cancel) -> sitk.Euler3DTransform:
    euler = sitk.Euler3DTransform()
    euler.SetCenter(fixed_center.tolist())
    if kind == "search":
        coarse_fixed, coarse_moving = _on_search_grid(fixed, moving, options)
        axes = (principal_axes(fixed_shape_mask), principal_axes(moving_shape_mask))
        euler, _ = search_orientation(coarse_fixed, coarse_moving, fixed_center, moving_center, options,
                                      _on_grid(fixed_mask, coarse_fixed), progress, cancel, axes, share=_INIT_SHARE)
    elif kind == "moments":
        euler.SetTranslation((moving_center - fixed_center).tolist())
    elif kind == "geometry":
        def image_center(image):
            size = np.array(image.GetSize(), dtype=float)
            return np.array(image.TransformContinuousIndexToPhysicalPoint(((size - 1) / 2).tolist()))
        euler.SetTranslation((image_center(moving) - image_center(fixed)).tolist())
    return euler


def _deep_starts(fixed, moving, start, fixed_center, options, progress, cancel, timings) -> list[sitk.Euler3DTransform]:
    """The registration network's corrections of ``start`` and, with ``deep_restart_angle_deg`` > 0, of the
    start turned by ± that angle about each axis (original intensities: the network does its own scaling)."""
    from .deep_initializer import deep_initial_transforms  # noqa: PLC0415 — torch only when asked for
    from .registration_model import load_registration_model  # noqa: PLC0415

    report(progress, ProgressEvent("initialize", 0.02, "Deep initializer: loading the network"))
    model = load_registration_model(options.deep_model or None, options.deep_device)
    report(progress, ProgressEvent("initialize", 0.05, f"Deep initializer on {model.device}"))
    # Without the polish nothing would choose among the answers: one start then.
    turns = tilt_rotations(options.deep_restart_angle_deg if options.deep_polish else 0.0)

    def on_answer(done: int, total: int) -> None:
        report(progress, ProgressEvent("initialize", 0.05 + (0.5 * _INIT_SHARE - 0.05) * done / total,
                                       f"Deep initializer: answer {done}/{total}"))
        if cancel is not None:
            cancel.raise_if_cancelled()

    corrected, deep_timings = deep_initial_transforms(fixed, moving, start, fixed_center, model, options.deep_passes,
                                                      turns, on_answer)
    timings["deep_network"] = deep_timings["network"]
    timings["deep_total"] = deep_timings["total"]
    report(progress, ProgressEvent("initialize", 0.5 * _INIT_SHARE, "Deep initializer: network done"))
    return corrected


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    options: RegistrationOptions | None = None,
    fixed_mask: sitk.Image | None = None,
    moving_mask: sitk.Image | None = None,
    initial_transform: sitk.Transform | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RigidRegistrationResult:
    """Register ``moving`` (MR) onto ``fixed`` (CT); both 3D scalar images in LPS, any intensity scale.

    ``fixed_mask``/``moving_mask``: optional binary masks (non-zero = use) in their image's space; they
    replace the automatic masks. ``initial_transform``: optional linear fixed→moving LPS transform; when
    given, it is the start and ``options.initializer`` is not used. ``progress`` receives
    :class:`ProgressEvent` s; ``cancel`` stops the run with :class:`Cancelled`.
    Raises :class:`InvalidInputError` for unusable images or images that do not overlap from the start.
    """
    options = options or RegistrationOptions()
    check_volume(fixed, "CT (fixed image)")
    check_volume(moving, "MR (moving image)")
    for mask, role in ((fixed_mask, "CT mask"), (moving_mask, "MR mask")):
        if mask is not None and not np.any(sitk.GetArrayViewFromImage(mask)):
            raise InvalidInputError(f"{role} is empty: it has no non-zero voxel to restrict the metric to.")
    started = time.perf_counter()
    timings: dict[str, float] = {}

    fixed_body = masks.body_mask(fixed)
    moving_body = masks.body_mask(moving)
    fixed_float = _clip_to_mask_percentiles(fixed, fixed_body, options.clip_percentiles)
    moving_float = _clip_to_mask_percentiles(moving, moving_body, options.clip_percentiles)
    if fixed_mask is not None:
        metric_mask = sitk.Cast(sitk.Cast(fixed_mask, sitk.sitkFloat32) > 0, sitk.sitkUInt8)
    elif options.mask == "auto":
        metric_mask = masks.dilate_mask(fixed_body, options.mask_margin_mm)
    else:
        metric_mask = None
    moving_metric_mask = (
        sitk.Cast(sitk.Cast(moving_mask, sitk.sitkFloat32) > 0, sitk.sitkUInt8) if moving_mask is not None else None
    )
    centroid_mask_fixed = metric_mask if fixed_mask is not None else fixed_body
    centroid_mask_moving = moving_metric_mask if moving_mask is not None else moving_body
    fixed_center = masks.mask_centroid_lps(centroid_mask_fixed)
    moving_center = masks.mask_centroid_lps(centroid_mask_moving)
    timings["preprocess"] = time.perf_counter() - started

    tick = time.perf_counter()
    deep = options.initializer == "deep"
    if initial_transform is not None:
        start = matrix_to_sitk_euler(sitk_transform_to_matrix(initial_transform), fixed_center)
        initializer = "given+deep" if deep else "given"
    else:
        initializer = options.initializer
        start = _initial_transform("moments" if deep else initializer, fixed_float, moving_float, metric_mask,
                                   centroid_mask_fixed, centroid_mask_moving, fixed_center, moving_center, options,
                                   progress, cancel)
    if deep:
        answers = _deep_starts(fixed, moving, start, fixed_center, options, progress, cancel, timings)
        start = answers[0]
        if options.deep_polish:
            polish_tick = time.perf_counter()
            coarse_fixed, coarse_moving = _on_search_grid(fixed_float, moving_float, options)
            start = polish_start(coarse_fixed, coarse_moving, answers, options, _on_grid(metric_mask, coarse_fixed),
                                 progress, cancel, base=0.5 * _INIT_SHARE, share=0.5 * _INIT_SHARE)
            timings["deep_polish"] = time.perf_counter() - polish_tick
    timings["initialize"] = time.perf_counter() - tick
    overlap = overlap_fraction(centroid_mask_fixed, moving, start)
    if overlap < _MIN_OVERLAP:
        raise InvalidInputError(
            f"CT and MR do not overlap from the initial alignment ({initializer}): only {overlap:.0%} of the CT "
            "body maps inside the MR field of view. Check that both images show the same subject, or use the "
            "'search' initializer."
        )

    transform = sitk.Euler3DTransform(start)
    levels: list[LevelTrace] = []
    count = len(options.level_spacings_mm)
    for level, (spacing, sigma) in enumerate(zip(options.level_spacings_mm, options.smoothing_sigmas_mm)):
        tick = time.perf_counter()
        level_fixed = resample_to_spacing(fixed_float, spacing, sigma)
        # The moving image keeps 1.5x finer voxels than the fixed one: the metric interpolates in it.
        level_moving = resample_to_spacing(moving_float, spacing * _MOVING_SPACING_RATIO, sigma)
        trace = _run_level(level, spacing, level_fixed, level_moving, _on_grid(metric_mask, level_fixed),
                           _on_grid(moving_metric_mask, level_moving), transform, options, progress, cancel,
                           base=_INIT_SHARE + (1 - _INIT_SHARE) * level / count, share=(1 - _INIT_SHARE) / count)
        trace.seconds = time.perf_counter() - tick
        levels.append(trace)
        timings[f"level_{level}"] = trace.seconds

    elapsed = time.perf_counter() - started
    report(progress, ProgressEvent("register", 1.0, f"Done in {elapsed:.1f} s", metric=levels[-1].metric))
    return RigidRegistrationResult(
        transform=transform, initial_transform=start, metric=levels[-1].metric,
        iterations=sum(level.iterations for level in levels), levels=levels, initializer=initializer,
        elapsed_seconds=elapsed, timings=timings,
    )


def _run_level(level, spacing, fixed, moving, fixed_mask, moving_mask, transform, options, progress, cancel,
               base, share) -> LevelTrace:
    """Optimise ``transform`` in place on one pyramid level."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(options.histogram_bins)
    strategy = {"random": method.RANDOM, "regular": method.REGULAR, "none": method.NONE}[options.sampling_strategy]
    method.SetMetricSamplingStrategy(strategy)
    if options.sampling_strategy != "none":
        method.SetMetricSamplingPercentage(options.sampling_percentage, options.random_seed)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    if moving_mask is not None:
        method.SetMetricMovingMask(moving_mask)
    method.SetInterpolator(sitk.sitkLinear)
    if options.optimizer == "regular_step_gradient_descent":
        method.SetOptimizerAsRegularStepGradientDescent(
            learningRate=options.learning_rate,
            minStep=options.minimum_step_mm, numberOfIterations=options.iterations,
            relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
        )
    else:
        method.SetOptimizerAsGradientDescent(
            learningRate=options.learning_rate, numberOfIterations=options.iterations,
            convergenceMinimumValue=options.convergence_minimum_value,
            convergenceWindowSize=options.convergence_window,
            estimateLearningRate=method.EachIteration,
            maximumStepSizeInPhysicalUnits=options.learning_rate * spacing / 2,
        )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(transform, inPlace=True)

    values: list[float] = []

    def on_iteration() -> None:
        metric = float(method.GetMetricValue())
        values.append(metric)
        fraction = base + share * min(1.0, len(values) / options.iterations)
        report(progress, ProgressEvent("register", fraction, f"Level {level + 1} ({spacing:g} mm)",
                                       level=level, iteration=len(values), metric=metric))
        if cancel is not None and cancel.cancelled:
            method.StopRegistration()

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    try:
        method.Execute(fixed, moving)
    except RuntimeError as error:
        if "sample" in str(error).lower():
            raise InvalidInputError(
                f"CT and MR stopped overlapping during registration at level {level + 1} ({spacing:g} mm): "
                "too few CT samples map inside the MR. The images may not show the same region."
            ) from error
        raise
    if cancel is not None and cancel.cancelled:
        raise Cancelled("Registration cancelled by the user; no output was written.")
    metric = float(method.GetMetricValue()) if values else math.nan
    return LevelTrace(level, spacing, len(values), metric, method.GetOptimizerStopConditionDescription(), 0.0, values)
