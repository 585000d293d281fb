"""Side-by-side PNG of matching slices (CT | MR | fused…) for reports and docs, without any renderer."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.imaging.bitmap_font import GLYPH_HEIGHT, draw_text, text_mask
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


PLANE_NAMES = ("axial", "coronal", "sagittal")
#: Label text scale (pixels per font pixel) and the margin around labels, in pixels.
LABEL_SCALE, LABEL_MARGIN = 2, 6


def labelled(canvas: np.ndarray, column_titles, row_titles, cell_width: int, cell_height: int, gap: int = 4):
    """``canvas`` (a :func:`montage`) with a title band above (one title per column, left-aligned on its cell)
    and a label band on the left (one per row, at the top of its cell), white on black."""
    text_height = GLYPH_HEIGHT * LABEL_SCALE
    left = max((text_mask(title, LABEL_SCALE).shape[1] for title in row_titles), default=0) + 2 * LABEL_MARGIN
    top = text_height + 2 * LABEL_MARGIN
    titles_end = max(
        (c * (cell_width + gap) + text_mask(t, LABEL_SCALE).shape[1] for c, t in enumerate(column_titles)), default=0
    )
    framed = np.zeros((canvas.shape[0] + top, left + max(canvas.shape[1], titles_end)), np.uint8)
    framed[top:, left : left + canvas.shape[1]] = canvas
    for column, title in enumerate(column_titles):
        draw_text(framed, title, LABEL_MARGIN, left + column * (cell_width + gap), 255, LABEL_SCALE)
    for row, title in enumerate(row_titles):
        draw_text(framed, title, top + row * (cell_height + gap) + LABEL_MARGIN, LABEL_MARGIN, 255, LABEL_SCALE)
    return framed


def write_fusion_montage(volumes: dict[str, np.ndarray], path) -> list[str]:
    """PNG with one row per plane (axial, coronal, sagittal) and one column per (k, j, i) volume on the
    0–255 fusion scale (e.g. CT, MR, each fused volume), in the dictionary's order, labelled with the column
    titles (the dictionary's keys) and the plane names. Returns the titles."""
    planes = [middle_slices(volume) for volume in volumes.values()]
    rows = [[plane[p] for plane in planes] for p in range(3)]
    height = max(cell.shape[0] for row in rows for cell in row)
    width = max(cell.shape[1] for row in rows for cell in row)
    canvas = labelled(montage(rows), list(volumes), PLANE_NAMES, width, height)
    write_image(sitk.GetImageFromArray(canvas), path)
    return list(volumes)
