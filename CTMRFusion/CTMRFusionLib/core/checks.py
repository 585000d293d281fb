"""Input validation: every bad input becomes an :class:`InvalidInputError` that names the problem."""

from __future__ import annotations

import warnings

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError

#: Inclusive range of a voxel side, in mm; outside it the header is wrong (e.g. metres or micrometres).
SPACING_RANGE_MM = (0.001, 100.0)
#: Smallest volume the multi-resolution registration works on: voxels per axis, and mm per axis.
MINIMUM_VOXELS = 4
MINIMUM_EXTENT_MM = 10.0


def check_volume(image: sitk.Image, role: str) -> None:
    """Check that ``image`` is a usable 3D scalar volume; ``role`` ("CT", "MR"…) names it in errors.

    Refused: 2D images (or 3D with a single slice), multi-component images, NaN/infinite voxels,
    constant (empty) volumes, spacing outside :data:`SPACING_RANGE_MM`, a direction matrix that is not a
    rotation or reflection (non-orthogonal, degenerate), and volumes too small for the registration pyramid
    (fewer than :data:`MINIMUM_VOXELS` voxels along an axis or a physical extent under :data:`MINIMUM_EXTENT_MM`).
    """
    if image.GetDimension() != 3:
        raise InvalidInputError(f"{role} is a {image.GetDimension()}D image; a 3D volume is needed.")
    size = image.GetSize()
    if min(size) < 2:
        raise InvalidInputError(f"{role} has size {size}: a single slice is a 2D image; a 3D volume is needed.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInputError(
            f"{role} has {image.GetNumberOfComponentsPerPixel()} components per voxel; a scalar volume is needed."
        )
    spacing = image.GetSpacing()
    low_mm, high_mm = SPACING_RANGE_MM
    if not all(low_mm <= s <= high_mm for s in spacing):
        shown = ", ".join(f"{s:g}" for s in spacing)
        raise InvalidInputError(
            f"{role} has voxel spacing ({shown}) mm, outside {low_mm:g}–{high_mm:g} mm: a bad header."
        )
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(direction)) or not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise InvalidInputError(
            f"{role} has a direction matrix that is not orthonormal (skewed or degenerate axes): a bad header."
        )
    if np.linalg.det(direction) < 0:
        warnings.warn(
            f"{role} has a left-handed (mirrored) direction matrix; its voxels are placed as the header says. "
            "If the scan looks mirrored, its header is wrong: a rigid registration cannot undo a mirror.",
            UserWarning,
            stacklevel=2,
        )
    if min(size) < MINIMUM_VOXELS:
        raise InvalidInputError(
            f"{role} has size {size}: at least {MINIMUM_VOXELS} voxels along each axis are needed to register."
        )
    extent = [n * s for n, s in zip(size, spacing)]
    if min(extent) < MINIMUM_EXTENT_MM:
        shown = " × ".join(f"{e:.1f}" for e in extent)
        raise InvalidInputError(f"{role} spans only {shown} mm; at least {MINIMUM_EXTENT_MM:g} mm per axis is needed.")
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InvalidInputError(f"{role} contains {bad} NaN or infinite voxels.")
    low, high = array.min(), array.max()
    if low == high:
        raise InvalidInputError(f"{role} is empty: every voxel has the value {low}.")
