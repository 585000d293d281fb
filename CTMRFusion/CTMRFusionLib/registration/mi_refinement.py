"""Stage 3 of the registration: Mattes-MI refinement of the start, level by level of the mm pyramid.

Each level smooths and resamples both images to its voxel size (the MR 1.5× finer: the metric interpolates
in it; thick-slice axes of either image are interpolated onto the level's voxel size, see
:mod:`~CTMRFusionLib.imaging.pyramid`), samples the metric inside the CT mask (a share of its voxels, at most
``maximum_samples``), and runs the chosen gradient descent with scales from
physical shifts, so 1 radian and 1 mm are weighed by how far they move the CT's points. The finest level's
regular-step descent runs on the project's own Mattes MI (:mod:`~CTMRFusionLib.registration.mattes_mi`, which
says why); the other levels on SimpleITK's. Each level optimises a
small rigid correction applied to the CT points before the level's start (an Euler3D transform about the same
centre, from the identity), and composes it into the transform at the end: Euler angles far from zero (a
flipped or tilted MR) make the optimizer's steps uneven, and the steps of a correction near zero are the same
whatever the start's rotation. So the answer does not depend on how the MR was placed in its scanner:
the sample pair under four known rigid moves gave 2.37 mm landmark TRE every time, where optimising the
transform's own angles gave 2.02–2.49 mm. The transform is optimised in place; nothing here knows how the start
was found.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.frames import matrix_to_sitk_euler, sitk_transform_to_matrix
from CTMRFusionLib.core.progress import Cancelled, ProgressEvent, report
from CTMRFusionLib.imaging.pyramid import MOVING_SPACING_RATIO
from CTMRFusionLib.registration.itk_execution import execute
from CTMRFusionLib.registration.mattes_mi import MattesMutualInformation, TooFewSamplesError
from CTMRFusionLib.registration.mi_score import MutualInformationScore
from CTMRFusionLib.registration.preparation import PreparedPair
from CTMRFusionLib.registration.stage import StageContext

#: Gradient descent's step, in voxels of the level (times ``learning_rate``): the learning rate is estimated each
#: iteration so that a step moves no CT point further. With a quarter voxel, and the mean of the iterates over
#: the convergence window as the level's answer, the sample pair measured 2.39–2.49 mm landmark TRE over five
#: known moves, against 2.18–2.63 mm with half a voxel and the last iterate.
MAXIMUM_STEP_VOXELS = 0.25
#: CT samples at most when a level's grid judges starts (:func:`level_score`): the starts judged are poses more
#: than 5 mm apart, whose MI differences 20 000 samples resolve. Judged with the 100 000–200 000 samples of a
#: 1.5 mm level instead, the 42 stack runs and the demo pair ended with the same errors but one (5.20 instead of
#: 5.24 mm), 0.3–0.4 s slower per registration.
JUDGING_SAMPLES = 20_000


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
    :class:`LevelTrace` per level, its seconds added to ``stage.timings["level_<i>"]`` (several starts may be
    refined). Raises :class:`Cancelled` or :class:`InvalidInputError` (overlap lost)."""
    count = len(options.level_spacings_mm)
    traces: list[LevelTrace] = []
    for level in range(count):
        tick = time.perf_counter()
        spacing, sigma = options.level_spacings_mm[level], options.smoothing_sigmas_mm[level]
        reporting = (stage.progress, stage.cancel, stage.at(level / count), stage.share / count)
        if uses_numpy_metric(options, level):  # its metric holds the level's grid (made once per pair)
            trace = _run_level_numpy(pair, level, spacing, transform, options, *reporting)
        else:
            grid = pair.level_grid(spacing, sigma, MOVING_SPACING_RATIO)
            trace = _run_level(level, spacing, *grid, transform, options, *reporting)
        trace.seconds = time.perf_counter() - tick
        traces.append(trace)
        stage.timings[f"level_{level}"] = stage.timings.get(f"level_{level}", 0.0) + trace.seconds
    return traces


def uses_numpy_metric(options, level: int) -> bool:
    """Whether pyramid level ``level`` is optimised on :class:`MattesMutualInformation` (the finest level, with the
    regular-step descent, unless ``fine_metric`` is "simpleitk") rather than SimpleITK's metric."""
    return (
        options.fine_metric == "numpy"
        and options.optimizer == "regular_step_gradient_descent"
        and level == len(options.level_spacings_mm) - 1
    )


def sampling_fraction(fixed: sitk.Image, fixed_mask: sitk.Image | None, options) -> float:
    """Share of the level's fixed voxels (inside the mask) the metric samples: ``sampling_percentage``, lowered so
    that at most ``maximum_samples`` points are drawn (the count, not the grid, sets the metric's noise)."""
    return float(min(options.sampling_percentage, options.maximum_samples / max(_voxels(fixed, fixed_mask), 1)))


def sample_count(fixed: sitk.Image, fixed_mask: sitk.Image | None, options) -> int:
    """How many CT samples a level's metric draws: :func:`sampling_fraction` of its mask voxels, at least one."""
    return max(1, round(sampling_fraction(fixed, fixed_mask, options) * _voxels(fixed, fixed_mask)))


def _voxels(fixed: sitk.Image, fixed_mask: sitk.Image | None) -> int:
    """Voxels of the level's fixed image inside its mask (all of them without one)."""
    if fixed_mask is None:
        return fixed.GetNumberOfPixels()
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(fixed_mask)))


def metric_method(
    fixed, fixed_mask, moving_mask, options, gradient_images: bool = True
) -> sitk.ImageRegistrationMethod:
    """A registration method set up with a level's metric: Mattes MI, its sampling (the same points for every
    transform evaluated with the same options), masks and linear interpolation. ``gradient_images``: the metric's
    derivative uses gradient images of both whole images (smoothed; 0.12 mm better landmark TRE on the sample
    pair, at 0.6 s per optimisation on a 1.5 mm level), else central differences at the samples (for metric
    values alone, where no derivative is needed)."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(options.histogram_bins)
    strategy = {"random": method.RANDOM, "regular": method.REGULAR, "none": method.NONE}[options.sampling_strategy]
    method.SetMetricSamplingStrategy(strategy)
    if options.sampling_strategy != "none":
        method.SetMetricSamplingPercentage(sampling_fraction(fixed, fixed_mask, options), options.random_seed)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    if moving_mask is not None:
        method.SetMetricMovingMask(moving_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetMetricUseFixedImageGradientFilter(gradient_images)
    method.SetMetricUseMovingImageGradientFilter(gradient_images)
    return method


def level_score(pair: PreparedPair, level: int, options) -> MutualInformationScore:
    """MI on pyramid level ``level``'s grid, for judging starts without optimising: as many CT samples as the
    level's refinement draws (:func:`sampling_fraction`) but at most :data:`JUDGING_SAMPLES`, the options' bins
    and seed."""
    spacing, sigma = options.level_spacings_mm[level], options.smoothing_sigmas_mm[level]
    bins, seed = options.histogram_bins, options.random_seed

    def compute():
        fixed, moving, fixed_mask, moving_mask = pair.level_grid(spacing, sigma, MOVING_SPACING_RATIO)
        samples = min(sample_count(fixed, fixed_mask, options), JUDGING_SAMPLES)
        return MutualInformationScore(fixed, moving, fixed_mask, bins, samples, seed, moving_mask)

    key = ("judging score", spacing, sigma, bins, seed, options.sampling_percentage, options.maximum_samples)
    return pair.memo(key, compute)


def level_metric(pair: PreparedPair, level: int, transform: sitk.Transform, options) -> float:
    """MI (negated, lower is better) of ``transform`` (CT→MR, LPS) on pyramid level ``level``'s grid, without
    optimising; inf when too few samples overlap. To judge several transforms, call one :func:`level_score`."""
    return level_score(pair, level, options)(transform)


def compose(outer: sitk.Euler3DTransform, inner: sitk.Euler3DTransform) -> sitk.Euler3DTransform:
    """The Euler3D transform ``outer(inner(x))`` (LPS), parameterised about ``outer``'s centre."""
    matrix = sitk_transform_to_matrix(outer) @ sitk_transform_to_matrix(inner)
    return matrix_to_sitk_euler(matrix, outer.GetCenter())


def numpy_level_metric(pair: PreparedPair, level: int, options) -> MattesMutualInformation:
    """The :class:`MattesMutualInformation` of pyramid level ``level`` (its grid, masks, the options' bins, sample
    count, seed and strategy), set up once per pair and options."""
    spacing, sigma = options.level_spacings_mm[level], options.smoothing_sigmas_mm[level]
    bins, seed, strategy = options.histogram_bins, options.random_seed, options.sampling_strategy

    def compute():
        fixed, moving, fixed_mask, moving_mask = pair.level_grid(spacing, sigma, MOVING_SPACING_RATIO)
        samples = sample_count(fixed, fixed_mask, options)
        return MattesMutualInformation(fixed, moving, fixed_mask, moving_mask, bins, samples, seed, strategy)

    key = ("numpy metric", spacing, sigma, bins, seed, strategy, options.sampling_percentage, options.maximum_samples)
    return pair.memo(key, compute)


def _run_level_numpy(pair, level, spacing, transform, options, progress, cancel, base, share) -> LevelTrace:
    """Optimise ``transform`` in place on one pyramid level with :class:`MattesMutualInformation` and a regular-step
    gradient descent like SimpleITK's: steps of ``learning_rate`` (mm of CT points) along the derivative, halved
    when it turns back or when the metric went up (the derivative, of the smoothed MR, and the value can
    disagree: docs/registration.md), stopped below ``minimum_step_mm`` or after ``iterations``; the answer is the
    last pose evaluated. Parameters are scaled by physical shift: an angle counts as the RMS distance (mm) of the
    samples from the centre times it."""
    metric = numpy_level_metric(pair, level, options)
    start = sitk.Euler3DTransform(transform)
    correction = sitk.Euler3DTransform()
    correction.SetCenter(transform.GetCenter())
    centred = metric.points_by_axis - np.array(transform.GetCenter())[:, None]
    radius = float(np.sqrt(np.mean(np.sum(centred**2, axis=0))))
    scale = np.array([radius] * 3 + [1.0] * 3)  # parameters → mm of CT points
    position = np.zeros(6)  # scaled (mm) parameters of the correction
    step, values = options.learning_rate, []
    previous_value, previous_direction = math.inf, None
    stop = f"Maximum number of iterations ({options.iterations}) exceeded."
    for iteration in range(options.iterations):
        correction.SetParameters(tuple(position / scale))
        try:
            value, derivative = metric.value_and_derivative(start, correction)
        except TooFewSamplesError as error:
            raise InvalidInputError(_overlap_lost(level, spacing)) from error
        values.append(value)
        _report_iteration(progress, cancel, options, level, spacing, base, share, len(values), value)
        direction = derivative / scale
        magnitude = float(np.linalg.norm(direction))
        if magnitude < 1e-12:
            stop = "Gradient magnitude tolerance met."
            break
        direction /= magnitude
        if previous_direction is not None and (direction @ previous_direction < 0 or value > previous_value):
            step *= 0.5  # turned back, or went uphill: the last step overshot
        if step < options.minimum_step_mm:
            stop = f"Step too small after {iteration} iterations."
            break
        previous_value, previous_direction = value, direction
        position = position - step * direction
    correction.SetParameters(tuple(position / scale))
    transform.SetParameters(compose(start, correction).GetParameters())
    metric_value = values[-1] if values else math.nan
    return LevelTrace(level, spacing, len(values), metric_value, stop, 0.0, values)


def _overlap_lost(level: int, spacing: float) -> str:
    return (
        f"CT and MR stopped overlapping during registration at level {level + 1} ({spacing:g} mm): "
        "too few CT samples map inside the MR. The images may not show the same region."
    )


def _report_iteration(progress, cancel, options, level, spacing, base, share, iteration, metric) -> None:
    """Report one iteration of a level; raise :class:`Cancelled` when the user asked to stop."""
    fraction = base + share * min(1.0, iteration / options.iterations)
    report(
        progress,
        ProgressEvent(
            "register", fraction, f"Level {level + 1} ({spacing:g} mm)", level=level, iteration=iteration, metric=metric
        ),
    )
    if cancel is not None and cancel.cancelled:
        raise Cancelled("Registration cancelled by the user; no output was written.")


def _run_level(
    level, spacing, fixed, moving, fixed_mask, moving_mask, transform, options, progress, cancel, base, share
) -> LevelTrace:
    """Optimise ``transform`` in place on one pyramid level."""
    method = metric_method(fixed, fixed_mask, moving_mask, options)
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
            maximumStepSizeInPhysicalUnits=options.learning_rate * spacing * MAXIMUM_STEP_VOXELS,
        )
    # A correction of the start, from the identity (module docstring): the MR's placement does not steer the steps.
    start = sitk.Euler3DTransform(transform)
    correction = sitk.Euler3DTransform()
    correction.SetCenter(transform.GetCenter())
    method.SetMovingInitialTransform(start)  # MR point = start(correction(CT point))
    method.SetInitialTransform(correction, inPlace=True)
    method.SetOptimizerScalesFromPhysicalShift()

    values: list[float] = []
    positions: list = []

    def on_iteration() -> None:
        metric = float(method.GetMetricValue())
        values.append(metric)
        positions.append(method.GetOptimizerPosition())
        _report_iteration(progress, cancel, options, level, spacing, base, share, len(values), metric)

    try:
        execute(method, fixed, moving, on_iteration)
    except RuntimeError as error:
        if "sample" in str(error).lower():
            raise InvalidInputError(_overlap_lost(level, spacing)) from error
        raise
    if cancel is not None and cancel.cancelled:
        raise Cancelled("Registration cancelled by the user; no output was written.")
    metric = float(method.GetMetricValue()) if values else math.nan
    stop = method.GetOptimizerStopConditionDescription()
    window = options.convergence_window
    if options.optimizer == "gradient_descent" and "converge" in stop.lower() and len(positions) >= window:
        # The steps keep their length to the end, so the last iterates circle the optimum: their mean is nearer.
        correction.SetParameters(tuple(np.mean(positions[-window:], axis=0)))
    transform.SetParameters(compose(start, correction).GetParameters())
    return LevelTrace(level, spacing, len(values), metric, stop, 0.0, values)
