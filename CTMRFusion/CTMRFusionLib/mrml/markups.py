"""Landmark sets to and from Slicer markups nodes (RAS in the scene, LPS in CTMRFusion)."""

from __future__ import annotations

import numpy as np

from CTMRFusionLib.core import frames
from CTMRFusionLib.io.landmark_files import LandmarkSet


def landmarks_from_markups_node(markups_node) -> LandmarkSet:
    """Control points of a Slicer markups node, at their world positions (parent transforms applied), LPS."""
    labels, points = [], []
    position = [0.0, 0.0, 0.0]
    for index in range(markups_node.GetNumberOfControlPoints()):
        markups_node.GetNthControlPointPositionWorld(index, position)
        points.append(list(position))
        labels.append(markups_node.GetNthControlPointLabel(index) or str(index + 1))
    return LandmarkSet(labels, frames.ras_to_lps_points(np.array(points).reshape(-1, 3)))


def fill_markups_node(markups_node, landmarks: LandmarkSet) -> None:
    """Replace a markups node's control points with ``landmarks`` (written in RAS, as Slicer stores them)."""
    markups_node.RemoveAllControlPoints()
    for label, point in zip(landmarks.labels, frames.lps_to_ras_points(landmarks.points_lps)):
        index = markups_node.AddControlPoint(point.tolist())
        markups_node.SetNthControlPointLabel(index, label)
