"""Stage 1 of the registration: checked inputs, clipped intensities, masks and centroids (all LPS, mm).

Every later stage (initializers, MI refinement) works from the :class:`PreparedPair` this stage makes, so the
inputs are checked, masked and clipped exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.checks import check_volume
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.core.pieces import run_pieces
from CTMRFusionLib.core.point_products import map_by_axis
from CTMRFusionLib.imaging import body_mask as masks
from CTMRFusionLib.imaging.pyramid import MOVING_SPACING_RATIO, reduce_to_spacing, resample_to_spacing
from CTMRFusionLib.registration.metric_samples import VoxelFrame


@dataclass
class PreparedPair:
    """A CT (fixed) and MR (moving) ready to register.

    fixed / moving: the images as given (any intensity scale). fixed_float / moving_float: float32 working
    copies, no finer than any level needs (:func:`working_spacing_mm`), clamped to the options' body
    percentiles: every level and search grid is made from them.
    metric_mask: where the metric samples the CT (the user's CT mask, or the body mask grown by
    ``mask_margin_mm``, or None); moving_metric_mask: the user's MR mask or None.
    fixed_shape_mask / moving_shape_mask: the masks whose centroids (``fixed_center``, ``moving_center``,
    LPS mm) and principal axes place the subject.

    What is derived from the pair alone (level grids, metric set-ups) is made once, by :meth:`memo`, also when
    two threads ask for it at once (:mod:`~CTMRFusionLib.registration.prefetch` makes some ahead of need).
    """

    fixed: sitk.Image
    moving: sitk.Image
    fixed_float: sitk.Image
    moving_float: sitk.Image
    metric_mask: sitk.Image | None
    moving_metric_mask: sitk.Image | None
    fixed_shape_mask: sitk.Image
    moving_shape_mask: sitk.Image
    fixed_center: np.ndarray
    moving_center: np.ndarray
    _memo: dict = field(default_factory=dict, repr=False)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def memo(self, key, compute: Callable):
        """``compute()``'s value, computed once per ``key`` (hashable): a thread that asks while another computes
        it waits for that result (or its exception) instead of computing it again."""
        with self._memo_lock:
            future = self._memo.get(key)
            owner = future is None
            if owner:
                future = self._memo[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as error:  # the asker gets it, as if computed in its own thread
                future.set_exception(error)
        return future.result()

    def search_grid(self, spacing_mm: float) -> tuple[sitk.Image, sitk.Image, sitk.Image | None]:
        """(CT, MR, metric mask) smoothed and resampled to a coarse ``spacing_mm`` grid, made once per spacing:
        where the orientation search and the deep initializer's polish score their candidates."""

        def compute():
            fixed, moving = (
                resample_to_spacing(image, spacing_mm, spacing_mm * 2 / 3)
                for image in (self.fixed_float, self.moving_float)
            )
            return fixed, moving, on_grid(self.metric_mask, fixed)

        return self.memo(("search grid", spacing_mm), compute)

    def level_grid(self, spacing_mm: float, sigma_mm: float, moving_ratio: float):
        """(CT, MR, CT metric mask, MR metric mask) of one pyramid level, made once per level: the CT at
        ``spacing_mm``, the MR at ``moving_ratio`` × that (the metric interpolates in it), both smoothed by
        ``sigma_mm`` and with thick-slice axes interpolated onto ``spacing_mm``
        (:func:`~CTMRFusionLib.imaging.pyramid.resample_to_spacing`)."""

        def compute():
            fixed = resample_to_spacing(self.fixed_float, spacing_mm, sigma_mm, upsample_to_mm=spacing_mm)
            moving = resample_to_spacing(self.moving_float, spacing_mm * moving_ratio, sigma_mm, spacing_mm)
            return fixed, moving, on_grid(self.metric_mask, fixed), on_grid(self.moving_metric_mask, moving)

        return self.memo(("level grid", spacing_mm, sigma_mm, moving_ratio), compute)


def on_grid(mask: sitk.Image | None, reference: sitk.Image) -> sitk.Image | None:
    """``mask`` resampled (nearest neighbour) onto ``reference``'s grid; None stays None."""
    if mask is None:
        return None
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _clip_to_mask_percentiles(image: sitk.Image, mask: sitk.Image, percentiles) -> sitk.Image:
    """Float32 copy of ``image`` clamped to intensity percentiles of the voxels inside ``mask``."""
    low, high = masks.percentiles_in_mask(image, mask, percentiles)
    return sitk.Clamp(image, sitk.sitkFloat32, low, max(high, low + 1.0))


#: The working copies are never coarser than this (mm): scans of 1 mm voxels or coarser are used as they are,
#: and only finer ones are reduced, whatever levels the options ask for.
MAXIMUM_WORKING_SPACING_MM = 1.0


def working_spacing_mm(options) -> float:
    """Voxel size (mm) of the working copies: the finest the pyramid's moving images need (the finest level
    × :data:`MOVING_SPACING_RATIO`), at most :data:`MAXIMUM_WORKING_SPACING_MM`. Axes finer than this are
    smoothed and resampled to it once, so that the levels of a 0.4 mm CT are not each smoothed at full
    resolution (measured: 30 s of the full-resolution sample pair's 32 s went to that)."""
    finest = min(*options.level_spacings_mm, options.search_spacing_mm) * MOVING_SPACING_RATIO
    return min(finest, MAXIMUM_WORKING_SPACING_MM)


def _working_copy(image: sitk.Image, spacing_mm: float, percentiles) -> tuple[sitk.Image, sitk.Image]:
    """(body mask, float32 working copy clamped to the body's intensity ``percentiles``) of ``image`` reduced to
    ``spacing_mm`` where finer."""
    work = reduce_to_spacing(image, spacing_mm)
    body = masks.body_mask(work)
    return body, _clip_to_mask_percentiles(work, body, percentiles)


def _binary(mask: sitk.Image) -> sitk.Image:
    return sitk.Cast(sitk.Cast(mask, sitk.sitkFloat32) > 0, sitk.sitkUInt8)


def prepare_pair(
    fixed: sitk.Image,
    moving: sitk.Image,
    options,
    fixed_mask: sitk.Image | None = None,
    moving_mask: sitk.Image | None = None,
) -> PreparedPair:
    """Check and prepare a CT/MR pair for :mod:`~CTMRFusionLib.registration.rigid` (``options``: its
    :class:`~CTMRFusionLib.registration.options.RegistrationOptions`). User masks (non-zero = use) replace the
    automatic ones. Raises :class:`InvalidInputError` for unusable images or empty masks."""
    check_volume(fixed, "CT (fixed image)")
    check_volume(moving, "MR (moving image)")
    for mask, role in ((fixed_mask, "CT mask"), (moving_mask, "MR mask")):
        if mask is not None and not np.any(sitk.GetArrayViewFromImage(mask)):
            raise InvalidInputError(f"{role} is empty: it has no non-zero voxel to restrict the metric to.")
    working = working_spacing_mm(options)
    # The CT's and the MR's working copies and masks are independent: made on two threads where ITK has two.
    (fixed_body, fixed_float), (moving_body, moving_float) = run_pieces(
        lambda piece: _working_copy((fixed, moving)[piece], working, options.clip_percentiles),
        2,
        sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
    )
    if fixed_mask is not None:
        metric_mask = _binary(fixed_mask)
    elif options.mask == "auto":
        metric_mask = masks.dilate_mask(fixed_body, options.mask_margin_mm)
    else:
        metric_mask = None
    moving_metric_mask = _binary(moving_mask) if moving_mask is not None else None
    fixed_shape = metric_mask if fixed_mask is not None else fixed_body
    moving_shape = moving_metric_mask if moving_mask is not None else moving_body
    return PreparedPair(
        fixed=fixed,
        moving=moving,
        fixed_float=fixed_float,
        moving_float=moving_float,
        metric_mask=metric_mask,
        moving_metric_mask=moving_metric_mask,
        fixed_shape_mask=fixed_shape,
        moving_shape_mask=moving_shape,
        fixed_center=masks.mask_centroid_lps(fixed_shape),
        moving_center=masks.mask_centroid_lps(moving_shape),
    )


def overlap_fraction(fixed_mask: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> float:
    """Fraction of fixed-mask voxels that a linear ``transform`` maps inside the moving image's field of view."""
    return share_inside(masks.mask_points_lps(fixed_mask), sitk_transform_to_matrix(transform), moving)


def share_inside(points_lps: np.ndarray, matrix: np.ndarray, image: sitk.Image) -> float:
    """Share of ``points_lps`` that the 4x4 LPS ``matrix`` sends inside ``image``'s field of view (ITK's buffer:
    half a voxel beyond the outer voxel centres); 0 for no points."""
    if len(points_lps) == 0:
        return 0.0
    frame = VoxelFrame.of(image)
    linear, offset = frame.index_map(matrix)
    index = map_by_axis(linear, np.asarray(points_lps).T, offset)
    return float(np.count_nonzero(frame.in_buffer(index, 0.5)) / len(points_lps))
