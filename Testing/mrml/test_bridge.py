"""MRML ↔ SimpleITK bridge on a real vtkMRMLScene: geometry, voxels, transforms and their conventions."""

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
import vtk

from CTMRFusionLib.core.frames import matrix_lps_to_ras, matrix_to_sitk_affine, sitk_transform_to_matrix
from CTMRFusionLib.mrml import bridge as mrml_bridge
from support.data import oblique_image
from support.ground_truth import move_header, rigid_matrix


def _geometry(image):
    return np.array(image.GetOrigin()), np.array(image.GetSpacing()), np.array(image.GetDirection())


@pytest.mark.parametrize("pixel_type", [sitk.sitkInt16, sitk.sitkUInt8, sitk.sitkFloat32])
def test_oblique_anisotropic_volume_round_trips_exactly(scene, pixel_type):
    image = oblique_image(pixel_type)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    mrml_bridge.update_volume_node_from_sitk(node, image)
    back = mrml_bridge.volume_node_to_sitk(node)
    assert back.GetPixelID() == pixel_type
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))
    for ours, theirs in zip(_geometry(back), _geometry(image)):
        np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_geometry_agrees_with_slicers_own_file_reader(scene, tmp_path):
    """Slicer's NRRD reader (RAS) and SimpleITK's (LPS) must give the same voxels at the same places."""
    image = oblique_image(sitk.sitkInt16)
    path = tmp_path / "oblique.nrrd"
    sitk.WriteImage(image, str(path))
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    assert storage.ReadData(node)
    from_slicer = mrml_bridge.volume_node_to_sitk(node)
    for ours, theirs in zip(_geometry(from_slicer), _geometry(image)):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(from_slicer), sitk.GetArrayViewFromImage(image))
    # A voxel's RAS position in Slicer is its LPS position with x and y negated.
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    ras = ijk_to_ras.MultiplyPoint((3, 4, 5, 1))[:3]
    lps = image.TransformIndexToPhysicalPoint((3, 4, 5))
    np.testing.assert_allclose(ras, [-lps[0], -lps[1], lps[2]], atol=1e-4)


def test_volume_under_linear_transform_is_taken_where_it_is_shown(scene):
    image = oblique_image()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    mrml_bridge.update_volume_node_from_sitk(node, image)
    parent = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    move = rigid_matrix((10, -20, 30), (5, -7, 12))
    to_parent = vtk.vtkMatrix4x4()
    to_parent.DeepCopy(matrix_lps_to_ras(move).ravel())
    parent.SetMatrixTransformToParent(to_parent)
    node.SetAndObserveTransformNodeID(parent.GetID())

    world = mrml_bridge.volume_node_to_sitk(node)
    expected = move_header(image, move)
    for ours, theirs in zip(_geometry(world), _geometry(expected)):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    local = mrml_bridge.volume_node_to_sitk(node, include_parent_transforms=False)
    np.testing.assert_allclose(local.GetOrigin(), image.GetOrigin(), atol=1e-9)
    assert node.GetParentTransformNode() is parent  # the input node is left as it was


def test_volume_under_nonlinear_transform_is_refused(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    mrml_bridge.update_volume_node_from_sitk(node, oblique_image())
    grid = scene.AddNewNodeByClass("vtkMRMLGridTransformNode")
    node.SetAndObserveTransformNodeID(grid.GetID())
    with pytest.raises(mrml_bridge.ParentTransformError, match="non-linear"):
        mrml_bridge.volume_node_to_sitk(node)


def test_empty_volume_node_is_refused(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    node.SetName("Nothing")
    with pytest.raises(ValueError, match="'Nothing' has no voxel data"):
        mrml_bridge.volume_node_to_sitk(node)


def _euler(angles_deg, translation, center):
    euler = sitk.Euler3DTransform()
    euler.SetCenter(center)
    euler.SetRotation(*np.deg2rad(angles_deg))
    euler.SetTranslation(translation)
    return euler


def test_transform_node_round_trip_and_from_parent_convention(scene):
    transform = _euler((5, -170, 12), (16.0, 15.0, -3.0), (-13.0, 8.0, -6.0))
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    mrml_bridge.set_transform_node_from_world(node, sitk_transform_to_matrix(transform))
    back = matrix_to_sitk_affine(mrml_bridge.transform_from_world_lps(node))
    point = (10.0, -20.0, 30.0)
    np.testing.assert_allclose(back.TransformPoint(point), transform.TransformPoint(point), atol=1e-9)
    # FromParent maps a CT (world) RAS point to the matching MR RAS point.
    from_parent = node.GetTransformFromParent()
    mapped_ras = from_parent.TransformPoint((-point[0], -point[1], point[2]))
    expected_lps = transform.TransformPoint(point)
    np.testing.assert_allclose(mapped_ras, (-expected_lps[0], -expected_lps[1], expected_lps[2]), atol=1e-9)


@pytest.mark.parametrize("suffix", [".tfm", ".h5"])
def test_transform_file_written_by_simpleitk_reads_the_same_in_slicer(scene, tmp_path, suffix):
    transform = _euler((20, 10, -30), (3.0, -4.0, 5.0), (1.0, 2.0, 3.0))
    path = tmp_path / f"t{suffix}"
    sitk.WriteTransform(transform, str(path))
    storage = slicer.vtkMRMLTransformStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    from_file = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    assert storage.ReadData(from_file)
    in_memory = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    mrml_bridge.set_transform_node_from_world(in_memory, sitk_transform_to_matrix(transform))
    a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    from_file.GetMatrixTransformFromParent(a)
    in_memory.GetMatrixTransformFromParent(b)
    np.testing.assert_allclose(np.array(a.GetData()), np.array(b.GetData()), atol=1e-6)


def test_hardened_transform_in_mrml_gives_simpleitks_resampled_voxels(scene, demo_images):
    """Put the MR under the registration output node, harden it in MRML: it must land where sitk.Resample puts it."""
    ct, mr = demo_images
    ct_small = sitk.RegionOfInterest(ct, (60, 60, 30), (40, 40, 70))
    transform = _euler((4, 178, -3), (16.0, 15.0, -3.0), (-13.0, 8.0, -6.0))
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    mrml_bridge.update_volume_node_from_sitk(node, mr)
    transform_node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    mrml_bridge.set_transform_node_from_world(transform_node, sitk_transform_to_matrix(transform))
    node.SetAndObserveTransformNodeID(transform_node.GetID())
    node.HardenTransform()
    assert node.GetParentTransformNode() is None

    hardened = mrml_bridge.volume_node_to_sitk(node)
    via_mrml = sitk.Resample(hardened, ct_small, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    via_sitk = sitk.Resample(mr, ct_small, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    a, b = sitk.GetArrayViewFromImage(via_mrml), sitk.GetArrayViewFromImage(via_sitk)
    assert np.count_nonzero(b) > 0.5 * b.size
    np.testing.assert_allclose(a, b, atol=1e-2 * float(np.abs(b).max()))
