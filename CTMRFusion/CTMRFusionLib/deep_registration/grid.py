"""The deep registration network's view of a CT–MR pair: a cube grid in LPS, intensities in [0, 1], features.

Grid: ``size``³ voxels of ``spacing`` mm (default 40³ × 8 mm = 320 mm), axes along LPS x, y, z, centred on a
point (the CT body centroid). Rotations the network predicts are about that centre.

Intensities (what the network was trained on, the fusion scale of :mod:`fusion_normalization` divided by
255): CT in HU windowed −100…200 HU → 0…1; MR: the 99.5th percentile of its body voxels → 240/255;
8-bit images are used as they are (÷ 255).

Feature channels (the seed's options, computed per modality on the grid from the [0, 1] intensities):
``raw`` (intensity), ``sobel`` (gradient magnitude), ``canny`` (Canny edge map), ``lowpass`` (Gaussian,
σ = 2 voxels), ``slic`` (SLIC superpixels, each voxel given its superpixel's mean intensity). Each feature is
scaled to about [0, 1] by its 99th percentile. The network's input is the CT channels then the MR channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.fusion.normalization import NormalizationOptions, is_8bit, normalize_ct, normalize_mr
from CTMRFusionLib.imaging.body_mask import body_percentiles

FEATURES = ("raw", "sobel", "canny", "lowpass", "slic")


@dataclass(frozen=True)
class NetworkGrid:
    """A cube of ``size``³ voxels of ``spacing`` mm, LPS-aligned, centred at ``center`` (LPS mm)."""

    center: tuple
    size: int = 40
    spacing: float = 8.0

    def image(self) -> sitk.Image:
        """An empty float32 image with this geometry (reference for resampling)."""
        image = sitk.Image([self.size] * 3, sitk.sitkFloat32)
        image.SetSpacing([self.spacing] * 3)
        image.SetOrigin((np.asarray(self.center, float) - self.spacing * (self.size - 1) / 2).tolist())
        return image


def unit_intensities(image: sitk.Image, modality: str) -> sitk.Image:
    """Float32 copy of a CT (HU) or MR (any scale) on the network's [0, 1] scale; 8-bit data ÷ 255."""
    array = sitk.GetArrayViewFromImage(image)
    if is_8bit(array):
        scaled = np.asarray(array, np.float32)
    elif modality == "ct":
        scaled = normalize_ct(array)
    else:
        options = NormalizationOptions()
        scaled = normalize_mr(array, body_percentiles(image, [options.mr_percentile])[0], options)
    out = sitk.GetImageFromArray((scaled / 255.0).astype(np.float32))
    out.CopyInformation(image)
    return out


def resample_to_grid(image: sitk.Image, reference: sitk.Image, transform: sitk.Transform | None = None) -> sitk.Image:
    """Linear resampling onto ``reference`` after a Gaussian anti-alias matched to the coarser voxels.

    ``transform``: reference (fixed) LPS points → ``image`` points (identity when None); outside → 0.
    """
    return resample_anti_aliased(anti_aliased(image, reference.GetSpacing()[0]), reference, transform)


def anti_aliased(image: sitk.Image, target_spacing_mm: float) -> sitk.Image:
    """``image`` as float32, Gaussian-smoothed for resampling onto ``target_spacing_mm`` voxels (σ per axis =
    half the spacing difference in quadrature, mm). Compute it once when resampling the same image often."""
    sigmas = [0.5 * np.sqrt(max(target_spacing_mm**2 - s**2, 0.0)) for s in image.GetSpacing()]
    image = sitk.Cast(image, sitk.sitkFloat32)
    if max(sigmas) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, [max(s, 1e-3) for s in sigmas])
    return image


def resample_anti_aliased(
    smooth: sitk.Image, reference: sitk.Image, transform: sitk.Transform | None = None
) -> sitk.Image:
    """Linear resampling of an :func:`anti_aliased` image onto ``reference``, outside → 0."""
    return sitk.Resample(smooth, reference, transform or sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def _scaled(image: sitk.Image) -> np.ndarray:
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    top = np.percentile(array, 99.0)
    return np.clip(array / top, 0.0, 1.5) if top > 0 else np.zeros_like(array)


def feature_channels(unit: sitk.Image, features=("raw",)) -> np.ndarray:
    """(len(features), D, H, W) float32 feature maps of an image already on the [0, 1] scale."""
    channels = []
    for feature in features:
        if feature == "raw":
            channels.append(sitk.GetArrayFromImage(unit).astype(np.float32))
        elif feature == "sobel":
            channels.append(_scaled(sitk.SobelEdgeDetection(unit)))
        elif feature == "canny":
            smooth = sitk.SmoothingRecursiveGaussian(unit, unit.GetSpacing()[0])
            edges = sitk.CannyEdgeDetection(smooth, lowerThreshold=0.02, upperThreshold=0.06)
            channels.append(sitk.GetArrayFromImage(edges).astype(np.float32))
        elif feature == "lowpass":
            channels.append(
                sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(unit, 2 * unit.GetSpacing()[0])).astype(
                    np.float32
                )
            )
        elif feature == "slic":
            labels = sitk.SLIC(unit, superGridSize=[4, 4, 4], spatialProximityWeight=0.5, maximumNumberOfIterations=5)
            label_array = sitk.GetArrayFromImage(labels).ravel()
            values = sitk.GetArrayFromImage(unit).ravel()
            sums = np.bincount(label_array, weights=values)
            counts = np.maximum(np.bincount(label_array), 1)
            channels.append((sums / counts)[label_array].reshape(unit.GetSize()[::-1]).astype(np.float32))
        else:
            raise ValueError(f"Unknown feature '{feature}'; choose from {', '.join(FEATURES)}.")
    return np.stack(channels)
