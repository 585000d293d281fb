"""The fast windowed-sinc resampler gives SimpleITK's sitkHammingWindowedSinc values."""

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.progress import Cancelled, CancelToken
from CTMRFusionLib.imaging.sinc_resampler import _axis_weights, resample_windowed_sinc
from support.data import oblique_image


def _case(pixel_type=sitk.sitkFloat32):
    moving = oblique_image(pixel_type, seed=3)
    reference = sitk.Image((13, 12, 9), sitk.sitkFloat32)
    reference.SetSpacing((0.8, 0.9, 1.3))
    reference.SetOrigin((8.0, -44.0, 4.0))
    transform = sitk.Euler3DTransform()
    transform.SetCenter((12.0, -36.0, 12.0))
    transform.SetRotation(0.15, 0.05, -0.2)
    transform.SetTranslation((1.3, -0.7, 2.1))
    return moving, reference, transform


def test_matches_simpleitk_on_oblique_anisotropic_volume():
    moving, reference, transform = _case()
    expected = sitk.GetArrayFromImage(
        sitk.Resample(moving, reference, transform, sitk.sitkHammingWindowedSinc, -7.0, sitk.sitkFloat32)
    )
    ours = sitk.GetArrayFromImage(resample_windowed_sinc(moving, reference, transform, -7.0, sitk.sitkFloat32))
    outside = expected == -7.0
    assert 0.1 < outside.mean() < 0.9, "the case should have samples inside and outside the moving image"
    np.testing.assert_array_equal(ours == -7.0, outside)
    np.testing.assert_allclose(ours, expected, atol=2e-5 * np.abs(expected).max())


def test_matches_simpleitk_on_real_mr_with_the_ct_grid(demo_images):
    ct, mr = demo_images
    reference = sitk.RegionOfInterest(ct, (40, 40, 12), (45, 45, 80))
    transform = sitk.Euler3DTransform()
    transform.SetCenter((-13.0, 8.0, -6.0))
    transform.SetRotation(0.05, np.pi - 0.02, 0.03)
    transform.SetTranslation((16.0, 15.0, -3.0))
    expected = sitk.GetArrayFromImage(
        sitk.Resample(mr, reference, transform, sitk.sitkHammingWindowedSinc, 0.0, sitk.sitkFloat32)
    )
    ours = sitk.GetArrayFromImage(resample_windowed_sinc(mr, reference, transform, 0.0, sitk.sitkFloat32))
    assert expected.max() > 500
    np.testing.assert_allclose(ours, expected, atol=1e-5 * expected.max())


def test_integer_output_is_within_one_unit_of_simpleitk():
    moving, reference, transform = _case(sitk.sitkInt16)
    expected = sitk.GetArrayFromImage(sitk.Resample(moving, reference, transform, sitk.sitkHammingWindowedSinc, 0.0))
    result = resample_windowed_sinc(moving, reference, transform, 0.0)
    assert result.GetPixelID() == sitk.sitkInt16
    assert np.abs(sitk.GetArrayFromImage(result).astype(int) - expected.astype(int)).max() <= 1


def test_weights_reproduce_the_kernel_at_and_next_to_voxels():
    weights = _axis_weights(np.array([0.0, 1e-9, 1 - 1e-12, 0.5]))
    np.testing.assert_allclose(weights[0], np.eye(10)[4], atol=0)
    np.testing.assert_allclose(weights[1], np.eye(10)[4], atol=1e-6)  # just past a voxel
    np.testing.assert_allclose(weights[2], np.eye(10)[5], atol=1e-6)  # just before the next one
    x = 0.5 + 4 - np.arange(10)
    expected = np.sinc(x) * (0.54 + 0.46 * np.cos(np.pi * x / 5))
    np.testing.assert_allclose(weights[3], expected, rtol=1e-6, atol=1e-7)


def test_cancel_raises_and_returns_nothing():
    moving, reference, transform = _case()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        resample_windowed_sinc(moving, reference, transform, cancel=token)
