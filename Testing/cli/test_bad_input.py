"""Bad input gets a clear error that names the problem, and never touches the user's files."""

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.images import read_image
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.rigid import register_rigid


@pytest.fixture(scope="module")
def small_pair(demo_images):
    ct, mr = demo_images
    return sitk.Shrink(ct, [3, 3, 3]), sitk.Shrink(mr, [3, 3, 1])


def test_2d_image_is_refused(small_pair):
    ct, _ = small_pair
    with pytest.raises(InvalidInputError, match="MR .* is a 2D image; a 3D volume is needed"):
        register_rigid(ct, sitk.Image(64, 64, sitk.sitkUInt8) + 1)


def test_single_slice_volume_is_refused(small_pair):
    ct, mr = small_pair
    with pytest.raises(InvalidInputError, match="single slice"):
        register_rigid(ct, sitk.Extract(mr, (mr.GetSize()[0], mr.GetSize()[1], 1), (0, 0, 10)))


def test_empty_volume_is_refused(small_pair):
    ct, _ = small_pair
    with pytest.raises(InvalidInputError, match="CT .* is empty: every voxel has the value 0"):
        register_rigid(sitk.Image(ct.GetSize(), sitk.sitkInt16), ct)


def test_nan_voxels_are_refused(small_pair):
    ct, mr = small_pair
    array = sitk.GetArrayFromImage(mr).astype(np.float32)
    array[5, 10, 10:13] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(mr)
    with pytest.raises(InvalidInputError, match="3 NaN or infinite voxels"):
        register_rigid(ct, bad)


def test_non_overlapping_volumes_are_refused(small_pair):
    ct, mr = small_pair
    far = sitk.Image(mr)
    far.SetOrigin([o + 2000.0 for o in mr.GetOrigin()])
    with pytest.raises(InvalidInputError, match="do not overlap"):
        register_rigid(ct, far, RegistrationOptions(initializer="identity"))


def test_empty_user_mask_is_refused(small_pair):
    ct, mr = small_pair
    with pytest.raises(InvalidInputError, match="CT mask is empty"):
        register_rigid(ct, mr, fixed_mask=sitk.Image(ct.GetSize(), sitk.sitkUInt8))


def test_unreadable_and_corrupted_files_name_the_file(tmp_path):
    with pytest.raises(InvalidInputError, match="MR not found: .*nothing.nrrd"):
        read_image(tmp_path / "nothing.nrrd", "MR")
    corrupted = tmp_path / "corrupted.nrrd"
    corrupted.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 10 10\n\n" + bytes(50))
    with pytest.raises(InvalidInputError, match="CT: cannot read .*corrupted.nrrd"):
        read_image(corrupted, "CT")
    with pytest.raises(InvalidInputError, match="no DICOM series"):
        read_image(tmp_path, "MR")


def test_invalid_options_name_the_option():
    with pytest.raises(ValueError, match="histogram_bins must be in 8..512"):
        RegistrationOptions(histogram_bins=2)
    with pytest.raises(ValueError, match="same number of levels"):
        RegistrationOptions(level_spacings_mm=(4, 2), smoothing_sigmas_mm=(1,))
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        RegistrationOptions.from_preset("nope")
