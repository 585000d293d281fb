"""A case's fingerprint follows input content (companion data files and DICOM folders included) and options,
not names or modification times."""

from __future__ import annotations

import shutil

import SimpleITK as sitk

from CTMRFusionLib.batch.fingerprint import case_fingerprint, hash_input
from CTMRFusionLib.io.companion_files import companion_files


def _small_ct(sample):
    return sitk.ReadImage(str(sample.ct))[::4, ::4, ::4]


def test_a_metaimage_hash_covers_its_data_file(sample, tmp_path):
    image = _small_ct(sample)
    header = tmp_path / "ct.mhd"
    sitk.WriteImage(image, str(header))
    assert companion_files(header) == [tmp_path / "ct.raw"]
    before = hash_input(header)
    raw = (tmp_path / "ct.raw").read_bytes()
    (tmp_path / "ct.raw").write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # one voxel bit, header unchanged
    assert hash_input(header) != before


def test_an_analyze_pair_and_a_copied_file_hash_by_content(sample, tmp_path):
    image = _small_ct(sample)
    sitk.WriteImage(image, str(tmp_path / "ct.hdr"))
    assert [p.name for p in companion_files(tmp_path / "ct.hdr")] == ["ct.img"]
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    copy = tmp_path / "copy" / "a.nrrd"
    copy.parent.mkdir()
    shutil.copy(tmp_path / "a.nrrd", copy)
    assert hash_input(copy) == hash_input(tmp_path / "a.nrrd")


def test_a_folder_hash_changes_when_a_file_is_added(sample, tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(sample.ct, folder / "one.nrrd")
    before = hash_input(folder)
    shutil.copy(sample.ct, folder / "two.nrrd")
    assert hash_input(folder) != before


def test_the_fingerprint_covers_every_input_and_setting(sample):
    inputs = {"ct": sample.ct, "mr": sample.mr, "ct_landmarks": None, "mr_landmarks": None}
    settings = {"preset": "fast", "fuse": None}
    reference = case_fingerprint(inputs, settings)
    assert case_fingerprint(dict(inputs), dict(settings)) == reference
    assert case_fingerprint(inputs, {**settings, "preset": "default"}) != reference
    assert case_fingerprint({**inputs, "ct_landmarks": sample.ct_landmarks}, settings) != reference
    assert case_fingerprint({**inputs, "ct": sample.mr, "mr": sample.ct}, settings) != reference
