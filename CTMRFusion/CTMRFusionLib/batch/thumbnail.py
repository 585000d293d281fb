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

from CTMRFusionLib.imaging.blend import normalised_array, rgb_blend_array, robust_window
from CTMRFusionLib.io.images import write_image

#: The longest side of each plane, in pixels.
PLANE_PIXELS = 192
#: The longest side of the coarse grid the intensity windows are measured on.
WINDOW_PIXELS = 64
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


def _plane_grid(grid: sitk.Image, axis: int) -> sitk.Image:
    """The central plane of ``grid`` across ``axis`` (0: x, sagittal; 1: y, coronal; 2: z, axial), one voxel
    thick."""
    size, origin = list(grid.GetSize()), list(grid.GetOrigin())
    origin[axis] += (size[axis] // 2) * grid.GetSpacing()[axis]
    size[axis] = 1
    plane = sitk.Image(size, sitk.sitkFloat32)
    plane.SetSpacing(grid.GetSpacing())
    plane.SetOrigin(origin)
    return plane


def _resampled(image: sitk.Image, grid: sitk.Image, outside: float) -> sitk.Image:
    return sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear, outside)


def blend_planes(ct: sitk.Image, mr_on_ct: sitk.Image) -> np.ndarray:
    """uint8 RGB (rows, columns, 3): axial | coronal | sagittal blend through the CT's centre (2D: the image).

    Each image's window comes from the whole volume on a coarse grid (:func:`robust_window`); only the three
    planes are resampled at full thumbnail size.
    """
    if ct.GetDimension() == 2:
        return rgb_blend_array(normalised_array(ct), normalised_array(mr_on_ct), OPACITY)
    grid, coarse = display_grid(ct), display_grid(ct, WINDOW_PIXELS)
    planes = []
    for axis in (2, 1, 0):
        plane_grid = _plane_grid(grid, axis)
        layers = []
        for image in (ct, mr_on_ct):
            floor = float(sitk.GetArrayViewFromImage(image).min())
            window = robust_window(_resampled(image, coarse, floor))
            values = sitk.GetArrayFromImage(_resampled(image, plane_grid, float("nan")))
            inside = np.isfinite(values)
            layers.append(np.clip((np.nan_to_num(values) - window[0]) / (window[1] - window[0]), 0, 1) * inside)
        rgb = rgb_blend_array(layers[0], layers[1], OPACITY)  # (z, y, x, 3) with one of them 1 voxel thick
        rgb = rgb[0] if axis == 2 else rgb[::-1, 0, :] if axis == 1 else rgb[::-1, :, 0]
        planes.append(rgb)
    height = max(p.shape[0] for p in planes)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, GAP_PIXELS), (0, 0))) for p in planes]
    return np.concatenate(padded, axis=1)[:, :-GAP_PIXELS]


def write_thumbnail(rgb: np.ndarray, path) -> None:
    """Write an RGB uint8 array as a PNG file."""
    write_image(sitk.GetImageFromArray(np.ascontiguousarray(rgb), isVector=True), path)
