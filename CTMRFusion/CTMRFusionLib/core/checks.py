"""Input validation: every bad input becomes an :class:`InvalidInputError` that names the problem."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError


def check_volume(image: sitk.Image, role: str) -> None:
    """Check that ``image`` is a usable 3D scalar volume; ``role`` ("CT", "MR"…) names it in errors.

    Refused: 2D images (or 3D with a single slice), multi-component images, NaN/infinite voxels,
    constant (empty) volumes, non-positive spacing.
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
    if min(image.GetSpacing()) <= 0:
        raise InvalidInputError(f"{role} has non-positive voxel spacing {image.GetSpacing()}.")
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InvalidInputError(f"{role} contains {bad} NaN or infinite voxels.")
    low, high = array.min(), array.max()
    if low == high:
        raise InvalidInputError(f"{role} is empty: every voxel has the value {low}.")
