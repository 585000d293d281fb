"""Automatic head/body masks that do not assume Hounsfield units.

The CT may be in HU or 8-bit; the MR has an arbitrary scale. A mask is the largest connected component of
an Otsu threshold of the smoothed image (computed on a coarse copy for speed), with holes filled. It is
used to centre the initial search and, dilated by a margin, to keep the similarity metric on the subject
and its outline rather than on the scanner table or the field-of-view padding.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.point_products import map_rows
from CTMRFusionLib.imaging.pyramid import resample_to_spacing


def body_mask(image: sitk.Image, working_spacing_mm: float = 3.0) -> sitk.Image:
    """Binary (uint8) mask of the subject on a grid of about ``working_spacing_mm`` (LPS geometry)."""
    coarse = resample_to_spacing(sitk.Cast(image, sitk.sitkFloat32), working_spacing_mm)
    smoothed = sitk.SmoothingRecursiveGaussian(coarse, working_spacing_mm)
    foreground = sitk.OtsuThreshold(smoothed, 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True)
    largest = sitk.Cast(components == 1, sitk.sitkUInt8)
    filled = sitk.BinaryFillhole(largest)
    # Fill slice-wise holes open at the volume's ends (e.g. a head cut through at the field of view).
    return sitk.Cast(sitk.BinaryMorphologicalClosing(filled, [2, 2, 2]), sitk.sitkUInt8)


def dilate_mask(mask: sitk.Image, margin_mm: float) -> sitk.Image:
    """Mask grown by ``margin_mm`` (mm, per axis rounded to whole voxels)."""
    if margin_mm <= 0:
        return mask
    radius = [max(1, int(round(margin_mm / s))) for s in mask.GetSpacing()]
    return sitk.BinaryDilate(mask, radius)


def mask_centroid_lps(mask: sitk.Image) -> np.ndarray:
    """Centroid of the mask's foreground in LPS mm."""
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(mask)
    if not statistics.HasLabel(1):
        raise ValueError("The mask is empty.")
    return np.array(statistics.GetCentroid(1))


def mask_points_lps(mask: sitk.Image, max_points: int = 20000) -> np.ndarray:
    """(N, 3) LPS mm positions of foreground voxels, evenly subsampled to at most about ``max_points``."""
    indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].astype(float)  # (i, j, k)
    indices = indices[:: max(1, len(indices) // max_points)]
    direction = np.array(mask.GetDirection()).reshape(3, 3)
    return map_rows(indices * np.array(mask.GetSpacing()), direction, mask.GetOrigin())


def percentiles_in_mask(image: sitk.Image, mask: sitk.Image, percentiles) -> list[float]:
    """Intensity percentiles of ``image`` over the voxels inside ``mask`` (sampled on the mask's grid)."""
    on_mask_grid = sitk.Resample(image, mask, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    values = sitk.GetArrayViewFromImage(on_mask_grid)[sitk.GetArrayViewFromImage(mask) > 0]
    if values.size == 0:
        values = sitk.GetArrayViewFromImage(on_mask_grid).ravel()
    return [float(v) for v in np.percentile(values, percentiles)]


def body_percentiles(image: sitk.Image, percentiles) -> list[float]:
    """Intensity percentiles of ``image`` inside its own automatic body mask (no HU assumption)."""
    return percentiles_in_mask(image, body_mask(image), percentiles)
