"""Final resampling of the MR onto the CT grid with a choice of interpolator."""

from __future__ import annotations

import SimpleITK as sitk

from CTMRFusionLib.core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from CTMRFusionLib.imaging.sinc_resampler import resample_windowed_sinc

_SITK_INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}


def resample_onto(
    moving: sitk.Image,
    reference: sitk.Image,
    transform_fixed_to_moving: sitk.Transform,
    interpolator: str = "sinc",
    default_value: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> sitk.Image:
    """``moving`` resampled on ``reference``'s grid (same pixel type as ``moving``).

    ``interpolator``: "sinc" (Hamming-windowed sinc, radius 5, the fast equivalent of SimpleITK's
    ``sitkHammingWindowedSinc``), "bspline" (cubic) or "linear". Outside the moving image the value is
    ``default_value`` (default: the moving image's minimum, so background stays background).
    Sinc and B-spline overshoot at edges is clamped to the pixel type's range.
    """
    if default_value is None:
        statistics = sitk.MinimumMaximumImageFilter()
        statistics.Execute(moving)
        default_value = statistics.GetMinimum()
    if interpolator == "sinc":
        return resample_windowed_sinc(
            moving,
            reference,
            transform_fixed_to_moving,
            default_value,
            moving.GetPixelID(),
            progress=progress,
            cancel=cancel,
        )
    if interpolator not in _SITK_INTERPOLATORS:
        raise ValueError(f"Unknown interpolator '{interpolator}' (use sinc, bspline or linear).")
    if cancel is not None:
        cancel.raise_if_cancelled()
    report(progress, ProgressEvent("resample", 0.0, f"Resampling ({interpolator})"))
    result = sitk.Resample(
        moving,
        reference,
        transform_fixed_to_moving,
        _SITK_INTERPOLATORS[interpolator],
        float(default_value),
        moving.GetPixelID(),
    )
    report(progress, ProgressEvent("resample", 1.0, f"Resampling ({interpolator})"))
    return result
