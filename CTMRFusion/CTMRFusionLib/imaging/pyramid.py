"""Resolution pyramid in millimetres: images resampled to a target voxel size.

Shrink factors in voxels mean different things for a 0.39 mm CT and a 5 mm-slice MR; levels defined in mm
make the registration's cost and behaviour independent of the native resolution.

Axes finer than a level are smoothed and made coarser. Axes more than twice as coarse as a level (thick
slices) are, when asked (``upsample_to_mm``), first smoothed by 0.4 of their own voxel and then interpolated onto
the finer grid, and the other axes are smoothed by half that sigma. Without
this a level grid keeps the 5 mm slice spacing of both images, every metric sample sits on a slice, and Mattes
MI with linear interpolation prefers the half-slice shifts where the MR is a blend of two slices (a smoother
image): on 1 × 1 × 5 mm stacks the optimum then sits 3–7 mm from the truth along the slice axis. On a fine
grid both images are sampled between slices alike and the artefact is gone (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

#: Gaussian sigma, as a fraction of the axis's own voxel size, given to an axis before it is upsampled (2 mm for
#: 5 mm slices; 0.5 until session 18).
THICK_AXIS_SIGMA_RATIO = 0.4
#: Where an axis is upsampled, the other axes get this fraction of its Gaussian sigma (1 mm in plane beside 5 mm
#: slices), so that the level's images are not sharp in plane and blurred across the slices. On the 42 stack runs,
#: in one process, as (thick ratio, this ratio): (0.5, 0) until session 18 2.39 mm mean error and 38 runs within
#: issue 16's bar; (0.5, 0.2) 2.33 mm, 38; (0.5, 0.4) 2.29 mm, 39; (0.5, 0.6) 2.24 mm, 37; (0.4, 0.5) 2.22 mm, 40
#: (every run of stack 32 inside). Pairs without thick axes are unchanged (the demo pair: 2.22 mm TRE in all).
THIN_AXIS_SIGMA_RATIO = 0.5
#: The moving (MR) image of a level is kept this much finer than the level's voxel size: the metric interpolates
#: in it (finer moving images measured 0.3 mm better TRE).
MOVING_SPACING_RATIO = 2 / 3
#: An axis is thick, and upsampled, when its voxel is more than this many times the level's (2.5 mm MR slices
#: at a 1.5 mm level are not: upsampling them measured 0.2 mm worse landmark TRE on the sample pair).
THICK_AXIS_FACTOR = 2.0


def level_spacing(image: sitk.Image, spacing_mm: float, upsample_to_mm: float | None = None) -> list[float]:
    """Per-axis voxel size (mm) of ``image`` at a level of ``spacing_mm``: never finer than native, except that
    axes more than :data:`THICK_AXIS_FACTOR` times coarser than ``upsample_to_mm`` (when given) get
    ``upsample_to_mm`` (or ``spacing_mm`` if that is coarser)."""
    sizes = [max(native, spacing_mm) for native in image.GetSpacing()]
    if upsample_to_mm is not None:
        finest = max(upsample_to_mm, spacing_mm)
        sizes = [finest if size > THICK_AXIS_FACTOR * upsample_to_mm else size for size in sizes]
    return sizes


def resample_to_spacing(
    image: sitk.Image, spacing_mm: float, smoothing_sigma_mm: float = 0.0, upsample_to_mm: float | None = None
) -> sitk.Image:
    """``image`` (float32) smoothed and resampled onto a grid of ``spacing_mm`` covering the same extent.

    The Gaussian combines ``smoothing_sigma_mm`` with the anti-aliasing each axis needs when it is made
    coarser (sigma = sqrt(target² - native²) / 2, in quadrature). Direction is kept. Axes already coarser
    than ``spacing_mm`` keep their spacing, unless ``upsample_to_mm`` is given: then axes more than twice as
    coarse as it are smoothed by :data:`THICK_AXIS_SIGMA_RATIO` of their voxel and linearly interpolated onto
    ``upsample_to_mm``.
    """
    image = sitk.Cast(image, sitk.sitkFloat32)
    native = np.array(image.GetSpacing())
    target = np.array(level_spacing(image, spacing_mm, upsample_to_mm))
    anti_alias = np.sqrt(np.maximum(target**2 - native**2, 0.0)) / 2.0
    upsampled = target < native - 1e-6
    thick = np.where(upsampled, THICK_AXIS_SIGMA_RATIO * native, 0.0)
    if upsampled.any():
        thick = np.where(upsampled, thick, THIN_AXIS_SIGMA_RATIO * thick.max())
    sigma = np.sqrt(anti_alias**2 + thick**2 + smoothing_sigma_mm**2)
    if np.allclose(target, native):
        return smooth(image, sigma)
    size = np.array(image.GetSize())
    new_size = [max(1, int(math.ceil(n * s / t - 1e-6))) for n, s, t in zip(size, native, target)]
    direction = image.GetDirection()
    # Align the outer voxel edges of both grids: first centre moves by half the difference in voxel size.
    origin = np.array(image.GetOrigin()) + np.array(direction).reshape(3, 3) @ ((target - native) / 2.0)
    # Axes made at least 2× coarser are first averaged over blocks of f whole voxels: f = target / native, but
    # blocks no wider than half a target voxel and one voxel more, so the Gaussian still runs on a grid finer than
    # the target's. A box of f voxels has the variance of a Gaussian of sigma native × sqrt((f² − 1) / 12), which
    # the Gaussian then no longer adds, on a grid f times smaller (the 6 mm level of a 1 mm MR: 0.05 s instead of
    # 0.28 s). The far end is first padded with copies of its last voxels to whole blocks, so the blocks cover
    # the image. Measured beside Gaussian smoothing alone: stacks 2.35 mm mean error (2.51), the demo pair 2.16 mm
    # landmark TRE (2.23), both within their bars (docs/benchmarks.md).
    factors = np.minimum(np.floor(target / native + 1e-6), np.floor(target / (2.0 * native) + 1.0 + 1e-6))
    factors = np.maximum(factors, 1).astype(int)
    if np.any(factors > 1):
        padding = (-size) % factors
        if np.any(padding):
            image = sitk.ZeroFluxNeumannPad(image, [0, 0, 0], padding.tolist())
        image = sitk.BinShrink(image, factors.tolist())
        sigma = np.sqrt(np.maximum(sigma**2 - native**2 * (factors**2 - 1) / 12.0, 0.0))
    return sitk.Resample(
        smooth(image, sigma),
        new_size,
        sitk.Transform(),
        sitk.sitkLinear,
        origin.tolist(),
        target.tolist(),
        direction,
        0.0,
        sitk.sitkFloat32,
    )


def smooth(image: sitk.Image, sigma_mm) -> sitk.Image:
    """``image`` smoothed by a Gaussian of ``sigma_mm`` per axis (x, y, z; mm), axis by axis (recursive Gaussian):
    axes whose sigma is under a hundredth of their voxel are left as they are."""
    for axis, (sigma, spacing) in enumerate(zip(sigma_mm, image.GetSpacing())):
        if sigma > 0.01 * spacing:
            image = sitk.RecursiveGaussian(
                image, float(sigma), False, sitk.RecursiveGaussianImageFilter.ZeroOrder, axis
            )
    return image


def reduce_to_spacing(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """``image`` (float32) with every axis finer than ``spacing_mm`` made about that coarse, cheaply: first
    averaged over whole blocks of voxels (``BinShrink``, by the largest integer factor that stays at or below
    ``spacing_mm``), then smoothed and resampled as :func:`resample_to_spacing` does. On a 512×512×409 CT the
    block average takes the full-resolution Gaussian's place (measured 6.5 s → under 1 s). Axes already as
    coarse keep their voxels."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    factors = [max(1, int(math.floor(spacing_mm / native + 1e-6))) for native in image.GetSpacing()]
    if max(factors) > 1:
        image = sitk.BinShrink(image, factors)
    return resample_to_spacing(image, spacing_mm)
