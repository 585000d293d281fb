"""The panel's DICOM export on a real scene: volumes loaded from DICOM the two ways Slicer loads them (a series
file through "Add Data", a DICOM database entry), the registration the scene shows, the files checked by tools
that are not the project's."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import vtk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.mrml.dicom_export import INSTANCE_UIDS_ATTRIBUTE
from CTMRFusionLib.mrml.logic import CTMRFusionLogic, FusionOptions
from support.dicom_checks import MR_IMAGE, SPATIAL_REGISTRATION, by_sop_class, dciodvfy_errors
from support.mrml_nodes import volume_node, volume_node_added_from_dicom


def _from_database(scene, folder, image, name):
    """A volume as Slicer's DICOM plugin leaves it: its instance UIDs as an attribute; and the database's lookup
    (fileForInstance) over the series' files."""
    files = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): str(path) for path in folder.iterdir()}
    node = volume_node(scene, image, name)
    node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, " ".join(files))
    return node, files.get


def _rigid_ras(angle_deg, shift_mm) -> vtk.vtkMatrix4x4:
    transform = vtk.vtkTransform()
    transform.Translate(*shift_mm)
    transform.RotateZ(angle_deg)
    return transform.GetMatrix()


@pytest.mark.slow
def test_export_of_an_mr_registered_under_a_parent_transform_relates_the_series_own_frames(
    scene, tmp_path, dicom_pair, demo_images, sample
):
    folder, ct_uids, mr_uids = dicom_pair
    ct = volume_node_added_from_dicom(scene, folder / "ct", "CT")
    mr, file_for_instance = _from_database(scene, folder / "mr", demo_images[1], "MR")
    moved = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    moved.SetMatrixTransformToParent(_rigid_ras(25.0, (12.0, -8.0, 15.0)))  # the MR shown moved: not its frame
    mr.SetAndObserveTransformNodeID(moved.GetID())
    logic = CTMRFusionLogic(scene)
    result = logic.registerVolumes(ct, mr)
    fused = logic.fuseVolumes(ct, result.volumeNode, options=FusionOptions(method="gff"))
    summary = logic.exportRegistrationToDicom(
        ct, mr, result.transformNode, result.volumeNode, tmp_path / "dicom", file_for_instance, "sinc", fused, "gff"
    )
    found = by_sop_class(tmp_path / "dicom")
    series = {}
    for _, dataset in found[MR_IMAGE]:
        series.setdefault(tuple(dataset.ImageType), set()).add(dataset.SeriesInstanceUID)
    slices = ct.GetImageData().GetDimensions()[2]
    assert sorted(series) == [("DERIVED", "SECONDARY", "MPR"), ("DERIVED", "SECONDARY", "OTHER")]
    assert len(found[MR_IMAGE]) == 2 * slices and summary["fused"]["images"] == slices
    ((reg_path, reg),) = found[SPATIAL_REGISTRATION]
    assert not dciodvfy_errors(reg_path) and not dciodvfy_errors(found[MR_IMAGE][0][0])
    assert reg.StudyInstanceUID == ct_uids["study"] and reg.FrameOfReferenceUID == ct_uids["frame"]
    item = next(i for i in reg.RegistrationSequence if i.FrameOfReferenceUID == mr_uids["frame"])
    assert {str(r.ReferencedSOPInstanceUID) for r in item.ReferencedImageSequence} == set(mr_uids["instances"])
    values = item.MatrixRegistrationSequence[0].MatrixSequence[0].FrameOfReferenceTransformationMatrix
    mr_to_ct = np.reshape(np.array(values, dtype=float), (4, 4))
    np.testing.assert_allclose(mr_to_ct, summary["mr_to_ct_matrix_lps"], atol=1e-8)
    # The landmark files are in each series' own frame: the REG carries the MR's onto the CT's, parent or not.
    ct_points, mr_points = read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    mr_by_label = dict(zip(mr_points.labels, mr_points.points_lps))
    errors = [
        np.linalg.norm(mr_to_ct[:3, :3] @ mr_by_label[label] + mr_to_ct[:3, 3] - point)
        for label, point in zip(ct_points.labels, ct_points.points_lps)
    ]
    assert np.mean(errors) < 3.0, np.mean(errors)
    mr_on_ct_uid = summary["mr_on_ct"]["series_uid"]
    derived = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "dicom"), mr_on_ct_uid))
    ct_read = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder / "ct")))
    assert derived.GetSize() == ct_read.GetSize()
    np.testing.assert_allclose(derived.GetOrigin(), ct_read.GetOrigin(), atol=1e-4)


def test_export_refuses_volumes_not_from_dicom_and_a_ct_under_a_transform(scene, tmp_path, dicom_pair, demo_images):
    folder = dicom_pair[0]
    ct = volume_node_added_from_dicom(scene, folder / "ct", "CT")
    mr, file_for_instance = _from_database(scene, folder / "mr", demo_images[1], "MR")
    logic = CTMRFusionLogic(scene)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    registered = volume_node(scene, demo_images[0], "registered")
    plain = volume_node(scene, demo_images[1], "MR from NRRD")
    with pytest.raises(InvalidInputError, match="'MR from NRRD' was not loaded from DICOM"):
        logic.exportRegistrationToDicom(ct, plain, transform, registered, tmp_path / "a", file_for_instance)
    with pytest.raises(InvalidInputError, match="was not loaded from DICOM"):
        logic.exportRegistrationToDicom(ct, mr, transform, registered, tmp_path / "b")  # no database lookup
    ct.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(InvalidInputError, match="under a transform"):
        logic.exportRegistrationToDicom(ct, mr, transform, registered, tmp_path / "c", file_for_instance)
    assert list(tmp_path.iterdir()) == []
