"""A case's blend thumbnail: the registered MR over the CT in three planes, as one PNG (no VTK, no Slicer).

The CT and the MR on its grid are resampled onto an axis-aligned LPS grid with square pixels that spans the CT,
so oblique and anisotropic volumes show in true proportions. The central axial, coronal and sagittal planes are
blended as in Slicer's slice views (CT purple, MR green, MR opacity 0.5) and laid side by side, in radiological
convention: axial with anterior up and the patient's right on the left, coronal and sagittal with superior up.
"""

from __future__ import annotations

import itertools

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.imaging.blend import normalised_array, rgb_blend_array
from CTMRFusionLib.io.images import write_image

#: The longest side of each plane, in pixels.
PLANE_PIXELS = 192
GAP_PIXELS = 4
OPACITY = 0.5


def display_grid(reference: sitk.Image, pixels: int = PLANE_PIXELS) -> sitk.Image:
    """An empty 3D image, identity direction (LPS axes), square voxels, spanning ``reference``'s corners."""
    size, spacing = np.array(reference.GetSize()), np.array(reference.GetSpacing())
    corners = [
        reference.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
        for corner in itertools.product(*[(-0.5, s - 0.5) for s in size])
    ]
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    step = max(float(np.max(high - low)) / pixels, float(np.min(spacing)) / 4.0)
    shape = np.maximum(1, np.ceil((high - low) / step).astype(int))
    grid = sitk.Image([int(n) for n in shape], sitk.sitkFloat32)
    grid.SetSpacing([step] * 3)
    grid.SetOrigin([float(v) for v in low + step / 2.0])
    return grid


def blend_planes(ct: sitk.Image, mr_on_ct: sitk.Image) -> np.ndarray:
    """uint8 RGB (rows, columns, 3): axial | coronal | sagittal blend through the CT's centre (2D: the image)."""
    if ct.GetDimension() == 2:
        ct_array, mr_array = normalised_array(ct), normalised_array(mr_on_ct)
        return rgb_blend_array(ct_array, mr_array, OPACITY)
    grid = display_grid(ct)
    on_grid = [
        sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear, float(np.nan))
        for image in (ct, mr_on_ct)
    ]
    arrays = []
    for image in on_grid:
        values = sitk.GetArrayFromImage(image)
        outside = np.isnan(values)
        values[outside] = np.nanmin(values) if not outside.all() else 0.0
        filled = sitk.GetImageFromArray(values)
        filled.CopyInformation(image)
        arrays.append(normalised_array(filled) * ~outside)
    volume = rgb_blend_array(arrays[0], arrays[1], OPACITY)  # (z, y, x, 3), z inferior → superior
    zc, yc, xc = (n // 2 for n in volume.shape[:3])
    planes = [volume[zc], volume[::-1, yc, :], volume[::-1, :, xc]]
    height = max(p.shape[0] for p in planes)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, GAP_PIXELS), (0, 0))) for p in planes]
    return np.concatenate(padded, axis=1)[:, :-GAP_PIXELS]


def write_thumbnail(rgb: np.ndarray, path) -> None:
    """Write an RGB uint8 array as a PNG file."""
    write_image(sitk.GetImageFromArray(np.ascontiguousarray(rgb), isVector=True), path)
