"""The MRI-DIR phantom's own MR DICOM series (as the scanner exported it, ../shared/data) and a DICOM CT made
from the shared CT (NRRD there: shrunk 2×2×2 to 0.78 × 0.78 × 1.25 mm and written as a feet-first CT series in
its own study), through ``register --dicom-out`` and checked with dciodvfy, pydicom and SimpleITK against the
physicists' landmarks."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import read_landmarks
from support.commands import ctmrfusion
from support.data import shared_path
from support.dicom_checks import MR_IMAGE, SPATIAL_REGISTRATION, by_sop_class, dciodvfy_errors
from support.dicom_writer import write_series

pytestmark = pytest.mark.real_data


def _digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_scanner_mr_series_registers_onto_a_dicom_ct_with_a_valid_registration_and_mr_series(tmp_path):
    root = shared_path("mri_dir_porcine")
    mr_folder, landmarks = root / "mr_t2_dicom", root / "landmarks"
    ct_image = sitk.BinShrink(sitk.ReadImage(str(root / "ct.nrrd")), [2, 2, 2])
    ct = write_series(ct_image, tmp_path / "ct", "CT", description="planning CT", patient_position="FFS")
    mr_headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(mr_folder.iterdir())]
    mr_before = _digest(mr_folder)
    out = tmp_path / "out"
    run = ctmrfusion(
        "register", "--ct", tmp_path / "ct", "--mr", mr_folder,
        "--transform", out / "mr_to_ct.h5", "--report", out / "report.json", "--dicom-out", out / "dicom",
        "--ct-landmarks", landmarks / "ct_landmarks_lps.csv", "--mr-landmarks", landmarks / "mr_landmarks_lps.csv",
        "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _digest(mr_folder) == mr_before, "the scanner's series changed"
    report = json.loads((out / "report.json").read_text())
    found = by_sop_class(out / "dicom")
    ((reg_path, reg),) = found[SPATIAL_REGISTRATION]
    images = found[MR_IMAGE]
    assert len(images) == ct_image.GetSize()[2]
    for path in (reg_path, images[0][0], images[len(images) // 2][0], images[-1][0]):
        assert not dciodvfy_errors(path), path.name

    # In the CT's study and frame; the scanner MR's study listed as another study; every MR instance referenced.
    mr_study, mr_frame = mr_headers[0].StudyInstanceUID, mr_headers[0].FrameOfReferenceUID
    assert reg.StudyInstanceUID == ct["study"] != mr_study and reg.FrameOfReferenceUID == ct["frame"]
    assert reg.StudiesContainingOtherReferencedInstancesSequence[0].StudyInstanceUID == mr_study
    item = next(i for i in reg.RegistrationSequence if i.FrameOfReferenceUID == mr_frame)
    assert {str(r.ReferencedSOPInstanceUID) for r in item.ReferencedImageSequence} == {
        str(h.SOPInstanceUID) for h in mr_headers
    }
    values = item.MatrixRegistrationSequence[0].MatrixSequence[0].FrameOfReferenceTransformationMatrix
    mr_to_ct = np.reshape(np.array(values, dtype=float), (4, 4))

    # The landmarks through the REG: the .h5's error, within the bar of the registration tests.
    ct_points = read_landmarks(landmarks / "ct_landmarks_lps.csv")
    mr_points = read_landmarks(landmarks / "mr_landmarks_lps.csv")
    mr_by_label = dict(zip(mr_points.labels, mr_points.points_lps))
    errors = [
        np.linalg.norm(mr_to_ct[:3, :3] @ mr_by_label[label] + mr_to_ct[:3, 3] - point)
        for label, point in zip(ct_points.labels, ct_points.points_lps)
    ]
    assert np.mean(errors) == pytest.approx(report["tre"]["after"]["mean_mm"], abs=1e-3)
    assert np.mean(errors) < 3.0 and report["tre"]["before"]["mean_mm"] > 50

    # The MR on the CT: the CT's grid for SimpleITK, the scanner's acquisition attributes, its own sources.
    derived = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(images[0][0].parent)))
    ct_read = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    assert derived.GetSize() == ct_read.GetSize()
    np.testing.assert_allclose(derived.GetOrigin(), ct_read.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(derived.GetSpacing(), ct_read.GetSpacing(), atol=1e-5)
    first = images[0][1]
    assert first.RepetitionTime == mr_headers[0].RepetitionTime and first.EchoTime == mr_headers[0].EchoTime
    assert first.PatientID == mr_headers[0].PatientID
    sources = {str(r.ReferencedSOPInstanceUID) for _, d in images for r in d.get("SourceImageSequence", [])}
    assert sources and sources <= {str(h.SOPInstanceUID) for h in mr_headers}
