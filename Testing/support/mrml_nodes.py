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
