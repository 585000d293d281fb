"""Stage 3 of the registration: Mattes-MI refinement of the start, level by level of the mm pyramid.

Each level smooths and resamples both images to its voxel size (the MR 1.5× finer: the metric interpolates
in it), samples the metric inside the CT mask, and runs the chosen gradient descent with scales from
physical shifts, so 1 radian and 1 mm are weighed by how far they move the CT's points. The transform is
optimised in place; nothing here knows how the start was found.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.progress import Cancelled, ProgressEvent, report
from CTMRFusionLib.imaging.pyramid import resample_to_spacing
from CTMRFusionLib.registration.preparation import PreparedPair, on_grid
from CTMRFusionLib.registration.stage import StageContext

#: Moving-image voxel size relative to the level's (finer moving images measured 0.3 mm better TRE).
MOVING_SPACING_RATIO = 2 / 3


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


def refine(pair: PreparedPair, transform: sitk.Euler3DTransform, options, stage: StageContext) -> list[LevelTrace]:
    """Optimise ``transform`` (CT→MR, LPS) in place over ``options.level_spacings_mm``, coarse to fine; one
    :class:`LevelTrace` per level. Raises :class:`Cancelled` or :class:`InvalidInputError` (overlap lost)."""
    levels: list[LevelTrace] = []
    count = len(options.level_spacings_mm)
    for level, (spacing, sigma) in enumerate(zip(options.level_spacings_mm, options.smoothing_sigmas_mm)):
        tick = time.perf_counter()
        level_fixed = resample_to_spacing(pair.fixed_float, spacing, sigma)
        level_moving = resample_to_spacing(pair.moving_float, spacing * MOVING_SPACING_RATIO, sigma)
        trace = _run_level(
            level,
            spacing,
            level_fixed,
            level_moving,
            on_grid(pair.metric_mask, level_fixed),
            on_grid(pair.moving_metric_mask, level_moving),
            transform,
            options,
            stage.progress,
            stage.cancel,
            base=stage.at(level / count),
            share=stage.share / count,
        )
        trace.seconds = time.perf_counter() - tick
        levels.append(trace)
        stage.timings[f"level_{level}"] = trace.seconds
    return levels


def _run_level(
    level, spacing, fixed, moving, fixed_mask, moving_mask, transform, options, progress, cancel, base, share
) -> LevelTrace:
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
            minStep=options.minimum_step_mm,
            numberOfIterations=options.iterations,
            relaxationFactor=0.5,
            gradientMagnitudeTolerance=1e-8,
        )
    else:
        method.SetOptimizerAsGradientDescent(
            learningRate=options.learning_rate,
            numberOfIterations=options.iterations,
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
        report(
            progress,
            ProgressEvent(
                "register",
                fraction,
                f"Level {level + 1} ({spacing:g} mm)",
                level=level,
                iteration=len(values),
                metric=metric,
            ),
        )
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
