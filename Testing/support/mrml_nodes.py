"""Real MRML nodes made from images and landmark files, for tests on a slicer-core scene."""

from __future__ import annotations

from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.mrml import bridge
from CTMRFusionLib.mrml.markups import fill_markups_node


def volume_node(scene, image, name):
    """A scalar volume node holding ``image`` (geometry converted LPS → RAS by the bridge)."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    node.SetName(name)
    bridge.update_volume_node_from_sitk(node, image)
    return node


def markups_node(scene, path, name):
    """A fiducial markups node holding the landmarks of the file at ``path``."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
    node.SetName(name)
    fill_markups_node(node, read_landmarks(path))
    return node


def volume_node_added_from_dicom(scene, folder, name):
    """A volume loaded as Slicer's "Add Data" loads a file of a DICOM series: an archetype storage node that reads
    the series the file belongs to."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    node.SetName(name)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(sorted(folder.iterdir())[0]))
    node.SetAndObserveStorageNodeID(storage.GetID())
    if not storage.ReadData(node):
        raise RuntimeError(f"the archetype storage node could not read the series in {folder}")
    return node
