"""The mm pyramid: level voxel sizes, thick-slice axes interpolated onto the level grid, and what that does to
Mattes MI on thick slices (the interpolation artefact issue 16 traced)."""

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.imaging.pyramid import (
    THICK_AXIS_SIGMA_RATIO,
    THIN_AXIS_SIGMA_RATIO,
    level_spacing,
    reduce_to_spacing,
    resample_to_spacing,
)
from support.atlas_stacks import atlas_stacks


def _image(spacing, size=(40, 40, 12)) -> sitk.Image:
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetOrigin((-10.0, 5.0, 20.0))
    return image


def test_level_spacing_never_upsamples_unless_asked_and_then_only_thick_axes():
    stack = _image((1.0, 1.0, 5.0))
    assert level_spacing(stack, 1.5) == [1.5, 1.5, 5.0]
    assert level_spacing(stack, 1.5, upsample_to_mm=1.5) == [1.5, 1.5, 1.5]
    assert level_spacing(stack, 1.0, upsample_to_mm=1.5) == [1.0, 1.0, 1.5]  # the MR grid of a 1.5 mm level
    assert level_spacing(stack, 6.0, upsample_to_mm=6.0) == [6.0, 6.0, 6.0]
    # 2.5 mm slices are not "thick" at 1.5 mm (more than 2x coarser is): they keep their spacing.
    assert level_spacing(_image((1.0, 1.0, 2.5)), 1.5, upsample_to_mm=1.5) == [1.5, 1.5, 2.5]


def test_upsampled_axis_covers_the_same_extent_and_keeps_the_slices_values():
    """A linear ramp along z (value = z in mm) through 5 mm slices, interpolated onto 1.5 mm: same outer
    edges, values still equal to z wherever the grid lies inside the first and last slice centres."""
    stack = _image((1.0, 1.0, 5.0))
    z = 20.0 + 5.0 * np.arange(12)
    array = np.broadcast_to(z[:, None, None], (12, 40, 40)).astype(np.float32)
    ramp = sitk.GetImageFromArray(np.ascontiguousarray(array))
    ramp.CopyInformation(stack)
    level = resample_to_spacing(ramp, 1.5, 0.0, upsample_to_mm=1.5)
    assert level.GetSpacing() == pytest.approx((1.5, 1.5, 1.5))
    extent = lambda image: np.array(image.GetSize()) * np.array(image.GetSpacing())  # noqa: E731
    assert np.all(np.abs(extent(level) - extent(ramp)) < 1.5)
    values = sitk.GetArrayFromImage(level)[:, 20, 20]
    z_level = level.GetOrigin()[2] + 1.5 * np.arange(level.GetSize()[2])
    inner = (z_level > z[1]) & (z_level < z[-2])  # away from the ends, where smoothing meets the border
    assert np.abs(values[inner] - z_level[inner]).max() < 0.05


def _in_plane_variance_mm2(image: sitk.Image) -> float:
    """Second moment (mm²) along x of the middle slice's profile through a line source."""
    array = sitk.GetArrayFromImage(image)
    profile = array[array.shape[0] // 2, array.shape[1] // 2, :].astype(float)
    x = image.GetOrigin()[0] + image.GetSpacing()[0] * np.arange(profile.size)
    centre = (profile * x).sum() / profile.sum()
    return float((profile * (x - centre) ** 2).sum() / profile.sum())


def test_beside_an_upsampled_thick_axis_the_other_axes_are_smoothed_by_its_share():
    """A line source along z (one bright column) in 1 × 1 × 5 mm slices and in 1 × 1 × 1.5 mm slices, both
    put on a 1.5 mm grid: the thick stack's in-plane profile is wider by the variance of a Gaussian of
    THIN_AXIS_SIGMA_RATIO × (THICK_AXIS_SIGMA_RATIO × 5 mm) = 1 mm, i.e. 1 mm² (the thin stack has no thick
    axis, so nothing is added there)."""
    added = (THIN_AXIS_SIGMA_RATIO * THICK_AXIS_SIGMA_RATIO * 5.0) ** 2
    assert added == pytest.approx(1.0)
    variances = []
    for z_spacing, slices in ((5.0, 12), (1.5, 40)):
        array = np.zeros((slices, 41, 41), np.float32)
        array[:, 20, 20] = 100.0
        line = sitk.GetImageFromArray(array)
        line.SetSpacing((1.0, 1.0, z_spacing))
        variances.append(_in_plane_variance_mm2(resample_to_spacing(line, 1.5, 0.0, upsample_to_mm=1.5)))
    assert variances[0] - variances[1] == pytest.approx(added, abs=0.15), variances


@pytest.mark.real_data
def test_on_interpolated_thick_slices_mattes_mi_has_one_optimum_along_the_slices_not_one_per_slice():
    """A real pre-aligned 1 × 1 × 5 mm CT/MR stack, Mattes MI (all voxels) along z shifts of −7.5…7.5 mm in
    1.25 mm steps: on the slices' own grid it zigzags, with a local optimum at every half-slice shift where the
    MR is a blend of two slices; on the level grid with thick axes upsampled it has a single optimum."""
    ct, mr = atlas_stacks()["2"]
    shifts = np.arange(-7.5, 7.6, 1.25)

    def profile(upsample: bool) -> np.ndarray:
        fixed = resample_to_spacing(ct, 1.5, 0.0, 1.5 if upsample else None)
        moving = resample_to_spacing(mr, 1.0, 0.0, 1.5 if upsample else None)
        values = []
        for shift in shifts:
            method = sitk.ImageRegistrationMethod()
            method.SetMetricAsMattesMutualInformation(64)
            method.SetMetricSamplingStrategy(method.NONE)
            method.SetInterpolator(sitk.sitkLinear)
            method.SetInitialTransform(sitk.TranslationTransform(3, (0.0, 0.0, float(shift))))
            values.append(method.MetricEvaluate(fixed, moving))
        return np.array(values)

    def local_optima(values: np.ndarray) -> int:  # lower is better
        return int(np.sum((values[1:-1] < values[:-2]) & (values[1:-1] < values[2:])))

    native, upsampled = profile(False), profile(True)
    assert local_optima(native) >= 3, native
    assert local_optima(upsampled) == 1, upsampled


def test_reduced_working_copy_matches_the_full_resolution_gaussian_path(demo_images):
    """The sample MR (1 × 1 × 2.5 mm) reduced to 2 mm by block averaging then smoothing: 2 × 2 × 2.5 mm voxels
    over the same extent, and the same image as smoothing at full resolution (correlation > 0.99, mean
    within 1 %)."""
    mr = demo_images[1]
    reduced = reduce_to_spacing(mr, 2.0)
    direct = resample_to_spacing(mr, 2.0)
    assert reduced.GetSpacing() == pytest.approx((2.0, 2.0, 2.5))
    extent = lambda image: np.array(image.GetSize()) * np.array(image.GetSpacing())  # noqa: E731
    assert np.all(np.abs(extent(reduced) - extent(mr)) <= 2.0)
    a = sitk.GetArrayFromImage(reduced).ravel()
    b = sitk.GetArrayFromImage(sitk.Resample(direct, reduced)).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.99
    assert abs(a.mean() - b.mean()) < 0.01 * abs(b.mean())
