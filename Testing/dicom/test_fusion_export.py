"""``fuse --dicom-out``: the fused volume as a derived series on the CT's grid, in the CT's study and frame."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from support.commands import ctmrfusion
from support.dicom_checks import MR_IMAGE, by_sop_class, dciodvfy_errors


def test_fused_series_is_on_the_ct_grid_with_the_nrrd_voxels_and_references_each_ct_slice(
    tmp_path, dicom_pair, exported
):
    folder, ct_uids, _ = dicom_pair
    volume = exported["out"] / "mr_on_ct.nrrd"
    common = ["fuse", "--ct", folder / "ct", "--mr", volume, "--method", "gff", "--quiet"]
    run = ctmrfusion(*common, "--output", tmp_path / "fused.nrrd", "--dicom-out", tmp_path / "dicom")
    assert run.returncode == 0, run.stderr
    found = by_sop_class(tmp_path / "dicom")
    assert list(found) == [MR_IMAGE]
    images = [dataset for _, dataset in found[MR_IMAGE]]
    ct = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder / "ct")))
    assert len(images) == ct.GetSize()[2]
    assert not dciodvfy_errors(found[MR_IMAGE][0][0]) and not dciodvfy_errors(found[MR_IMAGE][-1][0])
    assert {d.StudyInstanceUID for d in images} == {ct_uids["study"]}
    assert {d.FrameOfReferenceUID for d in images} == {ct_uids["frame"]}
    assert {tuple(d.ImageType) for d in images} == {("DERIVED", "SECONDARY", "OTHER")}
    # Each fused slice's source is the CT slice at the same position (the same grid).
    ct_by_position = {}
    for path in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder / "ct")):
        reader = sitk.ImageFileReader()
        reader.SetFileName(path)
        reader.ReadImageInformation()
        position = tuple(round(float(v), 3) for v in reader.GetMetaData("0020|0032").split("\\"))
        ct_by_position[position] = reader.GetMetaData("0008|0018").strip()
    for image in images:
        position = tuple(round(float(v), 3) for v in image.ImagePositionPatient)
        assert {str(ref.ReferencedSOPInstanceUID) for ref in image.SourceImageSequence} == {ct_by_position[position]}
    fused = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "dicom")))
    np.testing.assert_allclose(fused.GetOrigin(), ct.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(fused.GetDirection(), ct.GetDirection(), atol=1e-6)
    nrrd = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "fused.nrrd")))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(fused), np.rint(nrrd))
    assert 0 <= nrrd.min() and nrrd.max() <= 255 and nrrd.max() > 150


def test_fuse_needs_somewhere_to_write_and_a_dicom_ct_for_dicom_out(tmp_path, sample, exported):
    volume = exported["out"] / "mr_on_ct.nrrd"
    run = ctmrfusion("fuse", "--ct", sample.ct, "--mr", volume, "--method", "max")
    assert run.returncode == 2 and "--output, --dicom-out or --stow" in run.stderr
    run = ctmrfusion("fuse", "--ct", sample.ct, "--mr", volume, "--method", "max", "--dicom-out", tmp_path / "d")
    assert run.returncode == 2 and "DICOM series folder" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "d").exists()
