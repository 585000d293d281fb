"""Side-by-side PNG of matching slices (CT | MR | fused…) for reports and docs, without any renderer."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .fusion_normalization import NormalizationOptions, normalize_ct, normalize_mr
from .image_io import write_image


def middle_slices(volume: sitk.Image) -> list[np.ndarray]:
    """Middle axial, coronal and sagittal slices (k, j, i index planes) of a 3D image, as 2D arrays."""
    array = sitk.GetArrayFromImage(volume)
    k, j, i = (n // 2 for n in array.shape)
    return [array[k], np.flipud(array[:, j, :]), np.flipud(array[:, :, i])]


def montage(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile 2D arrays on the 0–255 scale: each inner list is one row; cells are padded to a common size."""
    height = max(cell.shape[0] for row in rows for cell in row)
    width = max(cell.shape[1] for row in rows for cell in row)
    columns = max(len(row) for row in rows)
    canvas = np.zeros((len(rows) * (height + gap) - gap, columns * (width + gap) - gap), np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            top, left = r * (height + gap), c * (width + gap)
            canvas[top:top + cell.shape[0], left:left + cell.shape[1]] = np.clip(np.rint(cell), 0, 255)
    return canvas


def write_fusion_montage(ct: sitk.Image, mr_on_ct: sitk.Image, fused: dict[str, sitk.Image], path,
                         mr_reference: float, options: NormalizationOptions = NormalizationOptions()) -> list[str]:
    """PNG with one row per plane (axial, coronal, sagittal) and columns CT | MR | each fused volume, all on
    the fusion scale; ``mr_reference``: the MR body percentile used for normalisation. Returns the column
    titles (for captions)."""
    columns = [normalize_ct(sitk.GetArrayFromImage(ct), options),
               normalize_mr(sitk.GetArrayFromImage(mr_on_ct), mr_reference, options)]
    columns += [sitk.GetArrayFromImage(volume) for volume in fused.values()]
    planes = [middle_slices(sitk.GetImageFromArray(column)) for column in columns]
    rows = [[plane[p] for plane in planes] for p in range(3)]
    write_image(sitk.GetImageFromArray(montage(rows)), path)
    return ["CT", "MR"] + list(fused)
