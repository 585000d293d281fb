"""Choosing a DICOM series from a folder holding several: by the UID the user names, else by modality, else
an error that lists them. Real DICOM (the shared MRI-DIR MR series), copied into a second series whose UID and
modality are rewritten with GDCM."""

from __future__ import annotations

import locale
import shutil

import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.dicom_series import list_series
from CTMRFusionLib.io.images import SERIES_UID_KEY, read_image
from support.data import shared_path

pytestmark = pytest.mark.real_data

OTHER_UID = "1.2.826.0.1.3680043.8.498.99999"


def _copy_as_series(source, folder, modality: str, prefix: str, count: int = 12) -> None:
    """The first ``count`` slices of ``source`` as another series (new series UID, given modality).

    ITK's DICOM writer sets the process locale to "C" and leaves it so (file reads would then default to
    ASCII); the locale is restored afterwards.
    """
    saved = locale.setlocale(locale.LC_ALL, None)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    try:
        for number, path in enumerate(sorted(source.iterdir())[:count]):
            image = sitk.ReadImage(str(path))
            image.SetMetaData("0020|000e", OTHER_UID)
            image.SetMetaData("0008|0060", modality)
            image.SetMetaData("0008|0018", f"{OTHER_UID}.{number + 1}")
            writer.SetFileName(str(folder / f"{prefix}{number:04d}.dcm"))
            writer.Execute(image)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


@pytest.fixture(scope="module")
def source():
    return shared_path("mri_dir_porcine", "mr_t2_dicom")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, source):
    """The MR series beside a 12-slice series labelled CT."""
    folder = tmp_path_factory.mktemp("mixed")
    for path in source.iterdir():
        shutil.copy(path, folder / path.name)
    _copy_as_series(source, folder, "CT", "ct")
    return folder


def test_the_folder_lists_both_series_with_their_modalities(mixed):
    series = {s.modality: s for s in list_series(mixed)}
    assert set(series) == {"MR", "CT"}
    assert len(series["MR"].files) == 94 and len(series["CT"].files) == 12


def test_each_role_takes_its_own_modality_and_records_the_uid(mixed):
    mr = read_image(mixed, "MR")
    ct = read_image(mixed, "CT")
    assert mr.GetSize()[2] == 94 and ct.GetSize()[2] == 12
    assert ct.GetMetaData(SERIES_UID_KEY) == OTHER_UID and mr.GetMetaData(SERIES_UID_KEY) != OTHER_UID


def test_two_series_of_one_modality_need_a_uid(tmp_path, source):
    for path in source.iterdir():
        shutil.copy(path, tmp_path / path.name)
    _copy_as_series(source, tmp_path, "MR", "second")
    with pytest.raises(InvalidInputError, match="holds 2 DICOM series, choose one with --series UID") as error:
        read_image(tmp_path, "MR")
    assert OTHER_UID in str(error.value)
    chosen = read_image(tmp_path, "MR", series=[OTHER_UID])
    assert chosen.GetSize()[2] == 12 and chosen.GetMetaData(SERIES_UID_KEY) == OTHER_UID
