"""Fusing whole images: 2D slice pairs and 3D volumes, with any method (U-Net or classic rule).

- :func:`fuse_stacks` fuses (n, H, W) slice stacks already on the 0–255 fusion scale.
- :func:`fuse_images` takes SimpleITK images as read from files or MRML nodes:
  - 2D pair (PNG/TIFF…): both must have the same size; 8-bit data is used as is, other data is scaled by its
    min–max to 0–255; the result is an 8-bit image of the same size (and the CT's spacing/origin).
  - 3D pair: the MR must already be registered to the CT (same physical space); if it is not on the CT's grid
    it is resampled there (linear, identity transform). CT HU and MR units are normalised as documented in
    :mod:`fusion_normalization` (8-bit volumes are used as they are); slices are fused along the image's
    third (k) axis; the result is float32 on the 0–255 scale in the CT's geometry.
"""

from __future__ import annotations

import warnings
from concurrent.futures import Future

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.checks import check_volume
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from CTMRFusionLib.fusion.methods import METHODS
from CTMRFusionLib.fusion.normalization import NormalizationOptions, is_8bit, normalize_ct, normalize_mr
from CTMRFusionLib.imaging.body_mask import body_percentiles
from CTMRFusionLib.io.images import grey_array

#: The smallest slice side the U-Net takes: its four 2× down-samplings need at least 16 pixels.
MIN_UNET_SIDE = 16

#: The default CT window and MR scaling (immutable, so one instance serves every call).
DEFAULT_NORMALIZATION = NormalizationOptions()


def load_model_for(method: str, path=None, device: str = "auto", expected_sha256: str | None = None):
    """The checked fusion model ``method`` needs: the U-Net (shipped, or ``path``; see
    :func:`fusion_model.load_fusion_model`) for "unet", None for the classic rules (no torch import)."""
    if method != "unet":
        return None
    from CTMRFusionLib.fusion.model import load_fusion_model  # noqa: PLC0415 — torch only when the U-Net is used

    return load_fusion_model(path, device, expected_sha256)


def fuse_stacks(
    ct: np.ndarray,
    mr: np.ndarray,
    method: str = "unet",
    model=None,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    streams: int = 1,
) -> np.ndarray:
    """Fuse (n, H, W) stacks on the 0–255 scale; ``model``: a loaded :class:`fusion_model.FusionModel`, or a
    ``Future`` of one that another thread is loading (the shipped one is loaded when ``method == "unet"`` and
    model is None); ``batch_size``: slices per U-Net
    call (None: the device's default, see :func:`~CTMRFusionLib.fusion.model.default_batch_size`); ``streams``:
    U-Net batches run at once on the CPU (:meth:`~CTMRFusionLib.fusion.model.FusionModel.fuse`). Returns
    float32 0–255."""
    if method not in METHODS:
        raise InvalidInputError(f"Unknown fusion method '{method}'; choose one of {', '.join(METHODS)}.")
    if method == "unet":
        model = (model.result() if isinstance(model, Future) else model) or load_model_for(method)
        return np.clip(model.fuse(ct, mr, batch_size, progress, cancel, streams), 0.0, 255.0)
    from CTMRFusionLib.fusion import rules as fusion_rules  # noqa: PLC0415 — scipy.ndimage (0.4 s), the rules only

    fused = np.empty(ct.shape, np.float32)
    for index in range(ct.shape[0]):
        if cancel is not None:
            cancel.raise_if_cancelled()
        fused[index] = fusion_rules.fuse_slices(method, ct[index], mr[index])
        report(
            progress,
            ProgressEvent(
                "fuse", (index + 1) / ct.shape[0], f"{method}: {index + 1}/{ct.shape[0]} slices", iteration=index + 1
            ),
        )
    return np.clip(fused, 0.0, 255.0)


def _check_finite(array: np.ndarray, role: str) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InvalidInputError(f"{role} contains NaN or infinite pixels.")


def _grey_2d(image: sitk.Image, role: str) -> np.ndarray:
    array = grey_array(image, role)
    _check_finite(array, role)
    if is_8bit(array):
        return array.astype(np.float32)
    low, high = float(array.min()), float(array.max())
    if high <= low:
        raise InvalidInputError(f"{role} is empty: every pixel has the value {low}.")
    warnings.warn(
        f"{role} is not 8-bit data (values {low:g}–{high:g}): scaled from its own range to 0–255, so it fuses "
        "differently from an 8-bit file of the same picture, which is used as it is",
        stacklevel=3,
    )
    return ((array - low) * (255.0 / (high - low))).astype(np.float32)


def _is_2d(image: sitk.Image) -> bool:
    return image.GetDimension() == 2 or (image.GetDimension() == 3 and image.GetSize()[2] == 1)


def check_fusion_inputs(ct: sitk.Image, mr: sitk.Image) -> None:
    """Refuse a pair that cannot be fused (before any model is loaded): 2D with 3D, 2D pairs of different
    sizes, and 3D volumes that fail :func:`~CTMRFusionLib.core.checks.check_volume`."""
    if _is_2d(ct) != _is_2d(mr):
        raise InvalidInputError(
            f"CT is {'2D' if _is_2d(ct) else '3D'} and MR is {'2D' if _is_2d(mr) else '3D'}; "
            "fuse two 2D images or two 3D volumes."
        )
    if _is_2d(ct):
        if ct.GetSize()[:2] != mr.GetSize()[:2]:
            raise InvalidInputError(
                f"CT is {ct.GetSize()[0]}×{ct.GetSize()[1]} pixels and MR is "
                f"{mr.GetSize()[0]}×{mr.GetSize()[1]}: 2D pairs must have the same size."
            )
    else:
        check_volume(ct, "CT")
        check_volume(mr, "MR")


def fuse_images(
    ct: sitk.Image,
    mr: sitk.Image,
    method: str = "unet",
    model=None,
    normalization: NormalizationOptions = DEFAULT_NORMALIZATION,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    streams: int = 1,
) -> sitk.Image:
    """Fused image of a CT/MR pair (see the module docstring for 2D and 3D rules); ``streams``: see
    :func:`fuse_stacks`."""
    check_fusion_inputs(ct, mr)
    if method == "unet" and min(ct.GetSize()[:2]) < MIN_UNET_SIDE:
        width, height = ct.GetSize()[:2]
        raise InvalidInputError(
            f"the images are {width}×{height} pixels: the U-Net needs at least {MIN_UNET_SIDE}×{MIN_UNET_SIDE} "
            "(it halves them four times); use a classic rule (--method max, average, laplacian or gff)"
        )
    if _is_2d(ct):
        a = _grey_2d(ct, "CT").reshape(1, ct.GetSize()[1], ct.GetSize()[0])
        b = _grey_2d(mr, "MR").reshape(a.shape)
        fused = check_fused(fuse_stacks(a, b, method, model, batch_size, progress, cancel, streams), method)
        out = sitk.GetImageFromArray(np.clip(np.rint(fused), 0, 255).astype(np.uint8).reshape(ct.GetSize()[::-1]))
        _copy_geometry(out, ct)
        return out

    a, b = volumes_on_fusion_scale(ct, mr, normalization, progress)
    return volume_like(check_fused(fuse_stacks(a, b, method, model, batch_size, progress, cancel, streams), method), ct)


def check_fused(fused: np.ndarray, method: str) -> np.ndarray:
    """``fused``, or :class:`InvalidInputError` when it is degenerate: NaN/infinite values, or one constant value
    although the inputs are not constant (e.g. a model file with zeroed weights)."""
    if not np.all(np.isfinite(fused)):
        raise InvalidInputError(f"The {method} fusion gave NaN or infinite values: the model is broken.")
    if fused.size and float(fused.max()) == float(fused.min()):
        raise InvalidInputError(
            f"The {method} fusion gave a constant image (every value {float(fused.min()):g}): the model is broken."
        )
    return fused


def volumes_on_fusion_scale(
    ct: sitk.Image,
    mr: sitk.Image,
    normalization: NormalizationOptions = DEFAULT_NORMALIZATION,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A 3D CT and MR as (k, j, i) float32 arrays on the CT grid and the 0–255 fusion scale (the MR is
    resampled onto the CT grid when it is not on it; see :mod:`fusion_normalization`)."""
    check_volume(ct, "CT")
    check_volume(mr, "MR")
    if not _same_grid(ct, mr):
        mr = sitk.Resample(mr, ct, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        report(progress, ProgressEvent("fuse", 0.0, "MR resampled onto the CT grid (identity, linear)"))
    ct_array, mr_array = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(mr)
    a = ct_array.astype(np.float32) if is_8bit(ct_array) else normalize_ct(ct_array, normalization)
    if is_8bit(mr_array):
        return a, mr_array.astype(np.float32)
    reference = body_percentiles(mr, [normalization.mr_percentile])[0]
    try:
        return a, normalize_mr(mr_array, reference, normalization)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None


def volume_like(array: np.ndarray, ct: sitk.Image) -> sitk.Image:
    """A float32 (k, j, i) array as an image with the CT's geometry."""
    out = sitk.GetImageFromArray(array.astype(np.float32))
    out.CopyInformation(ct)
    return out


def _copy_geometry(out: sitk.Image, ct: sitk.Image) -> None:
    out.SetSpacing(ct.GetSpacing())
    out.SetOrigin(ct.GetOrigin())
    out.SetDirection(ct.GetDirection())


def _same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-4) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tolerance)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=tolerance)
    )
