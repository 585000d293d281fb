"""A DICOM output folder is written whole or not at all, and never into a folder that holds anything."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.new_instance import new_uid
from CTMRFusionLib.dicom.output_folder import check_output_folder, write_dicom_folder
from CTMRFusionLib.dicom.spatial_registration import matrix_type


def _dataset(uid: str) -> Dataset:

    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = uid
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = new_uid()
    return dataset


def test_a_failed_write_leaves_no_folder_and_no_staging(tmp_path):
    broken = _dataset("1.2.840.10008.5.1.4.1.1.4")
    broken.file_meta.TransferSyntaxUID = "1.2.3.4"  # pydicom cannot encode an unknown transfer syntax
    with pytest.raises(ValueError, match="transfer syntax"):
        write_dicom_folder(tmp_path / "out", {"a.dcm": _dataset("1.2.840.10008.5.1.4.1.1.4"), "b.dcm": broken})
    assert list(tmp_path.iterdir()) == []


def test_a_complete_write_and_the_refusals(tmp_path):
    paths = write_dicom_folder(tmp_path / "new" / "out", {"a.dcm": _dataset("1.2.840.10008.5.1.4.1.1.4")})
    assert [p.name for p in paths] == ["a.dcm"] and paths[0].stat().st_size > 128
    assert [p.name for p in tmp_path.joinpath("new").iterdir()] == ["out"]
    with pytest.raises(InvalidInputError, match="new or empty folder"):
        check_output_folder(tmp_path / "new" / "out")
    with pytest.raises(InvalidInputError, match="would be written inside it"):
        check_output_folder(tmp_path / "d", [None, tmp_path / "d" / "report.json"])
    (tmp_path / "empty").mkdir()
    assert check_output_folder(tmp_path / "empty") == tmp_path / "empty"
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InvalidInputError, match="new or empty folder"):
        check_output_folder(tmp_path / "a_file")
    with pytest.raises(InvalidInputError, match="cannot create a folder"):
        check_output_folder(tmp_path / "a_file" / "below")


def test_matrix_type_names_rigid_scaled_and_affine_matrices():
    rotation = np.eye(4)
    rotation[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    rotation[:3, 3] = [5, -3, 2]
    assert matrix_type(rotation) == "RIGID"
    scaled = rotation.copy()
    scaled[:3, :3] *= 1.2
    assert matrix_type(scaled) == "RIGID_SCALE"
    mirrored = rotation.copy()
    mirrored[0, :3] *= -1
    assert matrix_type(mirrored) == "AFFINE"
    sheared = np.eye(4)
    sheared[0, 1] = 0.3
    assert matrix_type(sheared) == "AFFINE"
