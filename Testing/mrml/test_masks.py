"""Metric masks from Slicer nodes: a segmentation's visible segments become the same mask as the label map it
was made from, on the reference volume's grid, and the scene is left as it was."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.mrml import bridge
from CTMRFusionLib.mrml.masks import mask_image
from support.mrml_nodes import volume_node


def test_a_segmentation_mask_equals_its_label_map_and_leaves_the_scene_unchanged(scene, demo_images):
    import slicer

    ct_image = sitk.Shrink(demo_images[0], [3, 3, 3])
    ct = volume_node(scene, ct_image, "CT")
    body = sitk.Cast(ct_image > -300, sitk.sitkUInt8)  # air below -300 HU
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    bridge.update_volume_node_from_sitk(labelmap, body)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)

    count = scene.GetNumberOfNodes()
    from_segmentation = mask_image(segmentation, ct)
    assert scene.GetNumberOfNodes() == count
    from_labelmap = mask_image(labelmap, ct)
    assert from_segmentation.GetSize() == ct_image.GetSize()
    np.testing.assert_allclose(from_segmentation.GetOrigin(), ct_image.GetOrigin(), atol=1e-3)
    a, b = sitk.GetArrayFromImage(from_segmentation), sitk.GetArrayFromImage(from_labelmap) != 0
    assert a.sum() > 1000 and np.array_equal(a != 0, b)
    assert mask_image(None, ct) is None
