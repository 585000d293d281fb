"""Side-by-side PNG of matching slices (CT | MR | fused…) for reports and docs, without any renderer."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.io.images import write_image


def middle_slices(array: np.ndarray) -> list[np.ndarray]:
    """Middle axial, coronal and sagittal slices (k, j, i index planes) of a (k, j, i) volume array."""
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
            canvas[top : top + cell.shape[0], left : left + cell.shape[1]] = np.clip(np.rint(cell), 0, 255)
    return canvas


def write_fusion_montage(volumes: dict[str, np.ndarray], path) -> list[str]:
    """PNG with one row per plane (axial, coronal, sagittal) and one column per (k, j, i) volume on the
    0–255 fusion scale (e.g. CT, MR, each fused volume), in the dictionary's order. Returns the titles."""
    planes = [middle_slices(volume) for volume in volumes.values()]
    rows = [[plane[p] for plane in planes] for p in range(3)]
    write_image(sitk.GetImageFromArray(montage(rows)), path)
    return list(volumes)
