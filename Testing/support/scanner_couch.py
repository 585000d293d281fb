"""A synthetic scanner couch in a CT: two concentric arcs below the head on every slice (issue 33's hard class).

A head CT often shows the couch or head rest as thin bright arcs behind the head (the shared stack 2 does; the
held-out slab of issue 33 does). The MR never shows them, so they are structure the MI metric cannot match: a
test of whether the search and the verdict are led by what only one image shows. The couch is placed from the
image alone (a plain intensity threshold finds the head, not the code under test), and the MR and the truth are
left as they are.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Gap between the back of the head and the inner arc (mm), the arcs' thickness and the distance between them.
GAP_MM, THICKNESS_MM, LAYER_DISTANCE_MM = 5.0, 3.0, 10.0
#: Radius of the couch's curve (mm) and the angle it spans about the posterior direction (degrees).
RADIUS_MM, SPAN_DEG = 150.0, 80.0


def add_couch(ct: sitk.Image) -> sitk.Image:
    """``ct`` (axial slices, identity direction: rows run anterior to posterior) with two couch arcs behind the
    head on every slice, at the intensity of the head's brightest percent (bone)."""
    if not np.allclose(ct.GetDirection(), np.eye(3).ravel()):
        raise ValueError("add_couch needs axial slices in the identity direction")
    voxels = sitk.GetArrayFromImage(ct)
    low, high = float(voxels.min()), float(voxels.max())
    head = voxels > low + 0.15 * (high - low)
    rows, columns = np.nonzero(head.any(axis=0))
    column_mm, row_mm = ct.GetSpacing()[0], ct.GetSpacing()[1]
    centre_x, back_y = columns.mean() * column_mm, rows.max() * row_mm
    y, x = np.mgrid[: voxels.shape[1], : voxels.shape[2]].astype(float)
    y, x = y * row_mm, x * column_mm
    couch = np.zeros(voxels.shape[1:], bool)
    for layer in (0.0, LAYER_DISTANCE_MM):
        centre_y = back_y + GAP_MM + layer - RADIUS_MM  # the arc's lowest point lies GAP_MM + layer behind the head
        radius = np.hypot(y - centre_y, x - centre_x)
        angle = np.degrees(np.arctan2(y - centre_y, x - centre_x))  # 90°: straight behind the centre
        couch |= (np.abs(radius - RADIUS_MM) <= THICKNESS_MM / 2) & (np.abs(angle - 90.0) <= SPAN_DEG / 2)
    out = voxels.copy()
    out[:, couch] = np.percentile(voxels[head], 99)
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(ct)
    return image
