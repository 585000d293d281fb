"""``register --dicom-out``: the Spatial Registration object and the MR resampled on the CT grid, checked by tools
that are not the project's (dciodvfy, pydicom, SimpleITK) against the inputs and the ITK transform file.

The bundled pair is written as two DICOM series the way two scanners would (CT feet-first, MR head-first; their
own studies and frames of reference; one patient), then registered by the command line as a user runs it.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.uid import UID

from CTMRFusionLib.io.landmark_files import read_landmarks
from support.commands import ctmrfusion
from support.dicom_checks import MR_IMAGE, SPATIAL_REGISTRATION, by_sop_class, dciodvfy_errors
from support.dicom_writer import write_series


def _itk_matrix(transform: sitk.Transform) -> np.ndarray:
    """4×4 of a linear ITK transform, measured by where it sends the origin and the unit points."""
    origin = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    matrix = np.eye(4)
    matrix[:3, 3] = origin
    for axis in range(3):
        matrix[:3, axis] = np.array(transform.TransformPoint(tuple(np.eye(3)[axis]))) - origin
    return matrix


def test_outputs_are_one_registration_and_one_mr_image_per_ct_slice(exported, demo_images):
    found = exported["found"]
    assert set(found) == {SPATIAL_REGISTRATION, MR_IMAGE}
    assert len(found[SPATIAL_REGISTRATION]) == 1
    assert len(found[MR_IMAGE]) == demo_images[0].GetSize()[2]
    assert exported["unchanged"], "an input file changed"


def test_every_output_passes_the_dicom3tools_iod_verifier(exported):
    paths = [path for files in exported["found"].values() for path, _ in files]
    errors = {path.name: dciodvfy_errors(path) for path in paths}
    assert not any(errors.values()), {name: lines for name, lines in errors.items() if lines}


def test_registration_is_in_the_ct_study_and_frame_and_maps_mr_to_ct_as_the_inverse_of_the_h5(exported):
    ((_, reg),) = exported["found"][SPATIAL_REGISTRATION]
    ct, mr = exported["ct"], exported["mr"]
    assert reg.Modality == "REG"
    assert reg.StudyInstanceUID == ct["study"] and reg.FrameOfReferenceUID == ct["frame"]
    assert reg.PatientID == "MRI-DIR-zzmeatphantom"
    items = {item.FrameOfReferenceUID: item for item in reg.RegistrationSequence}
    assert set(items) == {ct["frame"], mr["frame"]}

    def matrix(item):
        (registration,) = item.MatrixRegistrationSequence
        (entry,) = registration.MatrixSequence
        assert entry.FrameOfReferenceTransformationMatrixType == "RIGID"
        return np.reshape(np.array(entry.FrameOfReferenceTransformationMatrix, dtype=float), (4, 4))

    np.testing.assert_allclose(matrix(items[ct["frame"]]), np.eye(4), atol=1e-12)
    ct_to_mr = _itk_matrix(sitk.ReadTransform(str(exported["out"] / "mr_to_ct.h5")))
    np.testing.assert_allclose(matrix(items[mr["frame"]]), np.linalg.inv(ct_to_mr), atol=1e-6)
    # Referenced images: every instance of each registered series, in the item of its own frame.
    for frame, series in ((ct["frame"], ct), (mr["frame"], mr)):
        referenced = {str(ref.ReferencedSOPInstanceUID) for ref in items[frame].ReferencedImageSequence}
        assert referenced == set(series["instances"])
    (ct_series,) = reg.ReferencedSeriesSequence
    assert ct_series.SeriesInstanceUID == ct["series"]
    (other_study,) = reg.StudiesContainingOtherReferencedInstancesSequence
    assert other_study.StudyInstanceUID == mr["study"]
    assert other_study.ReferencedSeriesSequence[0].SeriesInstanceUID == mr["series"]
    assert len(other_study.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == len(mr["instances"])


def test_the_registration_matrix_on_the_mr_landmarks_gives_the_h5_landmark_error(exported, sample):
    """MR landmarks (LPS) through the REG's MR item land on the CT's: the same TRE as the report's (the .h5)."""
    ((_, reg),) = exported["found"][SPATIAL_REGISTRATION]
    item = next(i for i in reg.RegistrationSequence if i.FrameOfReferenceUID == exported["mr"]["frame"])
    values = item.MatrixRegistrationSequence[0].MatrixSequence[0].FrameOfReferenceTransformationMatrix
    matrix = np.reshape(np.array(values, dtype=float), (4, 4))
    ct_points, mr_points = read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    mr_by_label = dict(zip(mr_points.labels, mr_points.points_lps))
    pairs = [(point, mr_by_label[label]) for label, point in zip(ct_points.labels, ct_points.points_lps)]
    errors = [np.linalg.norm(matrix[:3, :3] @ m + matrix[:3, 3] - c) for c, m in pairs]
    assert np.mean(errors) == pytest.approx(exported["report"]["tre"]["after"]["mean_mm"], abs=1e-3)
    assert np.mean(errors) < 3.0


def test_simpleitk_reads_the_mr_series_on_the_ct_grid_with_the_volume_output_voxels(exported, dicom_pair):
    folder = dicom_pair[0]
    reader = sitk.ImageSeriesReader()
    ct = sitk.ReadImage(reader.GetGDCMSeriesFileNames(str(folder / "ct")))
    files = [str(path) for path, _ in exported["found"][MR_IMAGE]]
    series_uid = str(exported["found"][MR_IMAGE][0][1].SeriesInstanceUID)
    derived = sitk.ReadImage(reader.GetGDCMSeriesFileNames(str(exported["out"] / "dicom"), series_uid))
    assert len(files) == derived.GetSize()[2]
    assert derived.GetSize() == ct.GetSize()
    np.testing.assert_allclose(derived.GetOrigin(), ct.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(derived.GetSpacing(), ct.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(derived.GetDirection(), ct.GetDirection(), atol=1e-6)
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(exported["out"] / "mr_on_ct.nrrd")))
    expected = np.rint(volume)  # the sinc's small undershoots stay (a signed series): the same numbers as --volume
    assert -32768 <= expected.min() and expected.max() <= 32767
    np.testing.assert_array_equal(sitk.GetArrayFromImage(derived), expected)
    assert expected.max() > 100, "the resampled MR should hold the MR's signal"


def test_the_mr_series_is_derived_new_and_references_its_mr_sources(exported):
    images = [dataset for _, dataset in exported["found"][MR_IMAGE]]
    ct, mr = exported["ct"], exported["mr"]
    assert {d.StudyInstanceUID for d in images} == {ct["study"]}
    assert {d.FrameOfReferenceUID for d in images} == {ct["frame"]}
    assert len({d.SeriesInstanceUID for d in images}) == 1
    assert images[0].SeriesInstanceUID not in (ct["series"], mr["series"])
    assert {tuple(d.ImageType[:2]) for d in images} == {("DERIVED", "SECONDARY")}
    uids = [d.SOPInstanceUID for d in images]
    assert len(set(uids)) == len(uids) and all(UID(u).is_valid for u in uids)
    assert not set(uids) & set(ct["instances"] + mr["instances"])
    sources = {str(ref.ReferencedSOPInstanceUID) for d in images for ref in d.get("SourceImageSequence", [])}
    assert sources and sources <= set(mr["instances"])
    assert exported["report"]["dicom"]["mr_on_ct"]["series_uid"] == images[0].SeriesInstanceUID


def test_dicom_out_refuses_a_ct_that_is_not_a_dicom_series_before_registering(tmp_path, sample, dicom_pair):
    run = ctmrfusion(
        "register", "--ct", sample.ct, "--mr", dicom_pair[0] / "mr", "--transform", tmp_path / "t.h5",
        "--dicom-out", tmp_path / "dicom",
    )  # fmt: skip
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "DICOM series folder" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "t.h5").exists() and not (tmp_path / "dicom").exists()


def test_dicom_out_refuses_a_folder_in_use_and_a_shared_frame_of_reference(tmp_path, dicom_pair, demo_images):
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.dcm").write_bytes(b"not ours")
    folder = dicom_pair[0]
    run = ctmrfusion("register", "--ct", folder / "ct", "--mr", folder / "mr", "--transform", tmp_path / "t.h5",
                     "--dicom-out", used)  # fmt: skip
    assert run.returncode == 2 and "new or empty folder" in run.stderr
    assert (used / "keep.dcm").read_bytes() == b"not ours"
    same_frame = write_series(demo_images[1], tmp_path / "mr", "MR", frame_uid=dicom_pair[1]["frame"])
    assert same_frame["frame"] == dicom_pair[1]["frame"]
    run = ctmrfusion("register", "--ct", folder / "ct", "--mr", tmp_path / "mr", "--transform", tmp_path / "t.h5",
                     "--dicom-out", tmp_path / "dicom")  # fmt: skip
    assert run.returncode == 2 and "share a frame of reference" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "t.h5").exists()


def test_series_of_two_patients_warn_in_one_line_and_file_the_outputs_under_the_ct_patient(
    tmp_path, dicom_pair, demo_images
):
    other = {"PatientName": "Other^Person", "PatientID": "OTHER-1", "PatientBirthDate": ""}
    write_series(demo_images[1], tmp_path / "mr", "MR", patient=other)
    folder = dicom_pair[0]
    run = ctmrfusion("register", "--ct", folder / "ct", "--mr", tmp_path / "mr", "--transform", tmp_path / "t.h5",
                     "--dicom-out", tmp_path / "dicom", "--quiet")  # fmt: skip
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("ctmrfusion: warning:")]
    assert len(warnings) == 1 and "'OTHER-1'" in warnings[0] and "different patients" in warnings[0]
    found = by_sop_class(tmp_path / "dicom")
    assert {d.PatientID for files in found.values() for _, d in files} == {"MRI-DIR-zzmeatphantom"}


def test_series_that_declare_no_frame_of_reference_get_one_from_their_series_uid_with_a_warning(tmp_path, demo_images):
    ct = write_series(demo_images[0], tmp_path / "ct", "CT", declare_frame=False)
    mr = write_series(demo_images[1], tmp_path / "mr", "MR", declare_frame=False)
    run = ctmrfusion("register", "--ct", tmp_path / "ct", "--mr", tmp_path / "mr", "--transform", tmp_path / "t.h5",
                     "--dicom-out", tmp_path / "dicom", "--quiet")  # fmt: skip
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "declares no FrameOfReferenceUID" in line]
    assert len(warnings) == 2
    found = by_sop_class(tmp_path / "dicom")
    ((reg_path, reg),) = found[SPATIAL_REGISTRATION]
    assert not dciodvfy_errors(reg_path)
    frames = [item.FrameOfReferenceUID for item in reg.RegistrationSequence]
    assert len(set(frames)) == 2 and all(UID(f).is_valid for f in frames)
    assert reg.FrameOfReferenceUID == frames[0] and {d.FrameOfReferenceUID for _, d in found[MR_IMAGE]} == {frames[0]}
    assert reg.StudyInstanceUID == ct["study"] and ct["series"] != mr["series"]
