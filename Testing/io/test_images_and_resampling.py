"""File formats in, atomic writes out, and the three final interpolators."""

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.imaging.resampling import resample_onto
from CTMRFusionLib.io.images import read_image, write_image, write_transform


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".mha", ".hdr"])
def test_every_supported_format_reads_back_the_same_voxels_and_geometry(tmp_path, demo_images, suffix):
    ct = sitk.RegionOfInterest(demo_images[0], (40, 30, 20), (40, 50, 60))
    path = tmp_path / f"ct{suffix}"
    write_image(ct, path)
    back = read_image(path, "CT")
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(ct))
    np.testing.assert_allclose(back.GetSpacing(), ct.GetSpacing(), atol=1e-5)
    if suffix != ".hdr":  # Analyze 7.5 stores no origin or direction
        np.testing.assert_allclose(back.GetOrigin(), ct.GetOrigin(), atol=1e-4)
    assert not list(tmp_path.glob(".ctmrfusion-*")), "no temporary file may be left behind"


def test_transform_files_round_trip(tmp_path):
    euler = sitk.Euler3DTransform((1, 2, 3), 0.1, -0.2, 3.0, (4, 5, 6))
    for suffix in (".tfm", ".h5"):
        write_transform(euler, tmp_path / f"t{suffix}")
        back = sitk.ReadTransform(str(tmp_path / f"t{suffix}"))
        np.testing.assert_allclose(back.TransformPoint((7, 8, 9)), euler.TransformPoint((7, 8, 9)), atol=1e-9)


def test_interpolators_agree_inside_and_keep_the_mr_type(demo_images):
    ct, mr = demo_images
    reference = sitk.RegionOfInterest(ct, (50, 50, 24), (40, 40, 70))
    transform = sitk.Euler3DTransform((-13.0, 8.0, -6.0), -0.03, np.pi - 0.035, 0.05, (16.0, 17.0, -1.5))
    results = {name: resample_onto(mr, reference, transform, name) for name in ("sinc", "bspline", "linear")}
    assert all(image.GetPixelID() == mr.GetPixelID() for image in results.values())
    linear = sitk.GetArrayViewFromImage(results["linear"]).astype(float)
    inside = linear > 200
    assert inside.mean() > 0.3
    for name in ("sinc", "bspline"):
        other = sitk.GetArrayViewFromImage(results[name]).astype(float)
        assert np.corrcoef(other[inside], linear[inside])[0, 1] > 0.95
        assert not np.array_equal(other, linear)
    with pytest.raises(ValueError, match="Unknown interpolator 'cubic'"):
        resample_onto(mr, reference, transform, "cubic")


def test_a_failed_write_names_the_destination_never_the_private_temporary_folder(tmp_path):
    from CTMRFusionLib.io.atomic_files import write_atomically

    destination = tmp_path / "out" / "volume.nrrd"

    def itk_like_failure(name):
        raise RuntimeError(f"Could not create IO object for writing file {name}")

    def disk_full(name):
        raise OSError(28, "No space left on device", name)

    for write in (itk_like_failure, disk_full):
        with pytest.raises((RuntimeError, OSError)) as failed:
            write_atomically(destination, write)
        assert str(destination) in str(failed.value) and ".ctmrfusion-" not in str(failed.value)
    assert list((tmp_path / "out").iterdir()) == []  # nothing left behind
