"""Masks for the registration metric from what Slicer users draw: a label map, any scalar volume, or a
segmentation (its visible segments, merged), as a SimpleITK image (non-zero = use)."""

from __future__ import annotations

import SimpleITK as sitk

from CTMRFusionLib.mrml import bridge as mrml_bridge


def mask_image(mask_node, reference_volume_node) -> sitk.Image | None:
    """The mask ``mask_node`` holds, as an image (LPS); None for no node.

    A segmentation node is exported on ``reference_volume_node``'s grid through Slicer's segmentation logic;
    the temporary label map this needs is removed again, so the scene is left as it was.
    """
    if mask_node is None:
        return None
    if not mask_node.IsA("vtkMRMLSegmentationNode"):
        return mrml_bridge.volume_node_to_sitk(mask_node)
    import slicer  # noqa: PLC0415 - a segmentation node means Slicer (or slicer-core) is there

    scene = mask_node.GetScene()
    existing = {scene.GetNthNode(index).GetID() for index in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    try:
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        if not logic.ExportVisibleSegmentsToLabelmapNode(mask_node, labelmap, reference_volume_node):
            raise ValueError(f"Segmentation '{mask_node.GetName()}' could not be turned into a mask.")
        image = mrml_bridge.volume_node_to_sitk(labelmap)
    finally:
        # The export adds the label map, its display node and colour table (and the subject hierarchy where
        # there was none): all of them go again.
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in added:
            if node.GetID() not in existing:
                scene.RemoveNode(node)
    return sitk.Cast(image != 0, sitk.sitkUInt8)
