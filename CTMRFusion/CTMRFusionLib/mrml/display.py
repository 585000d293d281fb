"""How CT and MR are shown together in Slicer's slice views: blend, checkerboard, difference (MRML only).

* **blend**: CT as background layer in purple, MR as foreground layer in green, alpha-blended with an
  adjustable opacity, in every slice view (the views are linked). The MR may be the registered, resampled
  volume or the original MR under the registration transform node: Slicer's layers handle both.
* **checkerboard** and **difference**: computed volumes on the CT grid (they need the MR resampled on
  it), from both images normalised to [0, 1] by robust percentiles (no HU assumption); checkerboard
  squares have a side in mm.
* :func:`rgb_blend_volume`: the purple/green alpha blend as an RGB volume, for export.

Colours and windows come from :mod:`CTMRFusionLib.imaging.blend` (CT purple, MR green).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.imaging.blend import CT_COLOR, MR_COLOR, normalised_array, rgb_blend_array, robust_window
from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.display_options import CHECKER_SQUARE_RANGE_MM, MODES, OPACITY_RANGE

__all__ = ["CHECKER_SQUARE_RANGE_MM", "MODES", "OPACITY_RANGE"]
_COLOR_NODE_NAMES = {CT_COLOR: "CTMRFusion CT purple", MR_COLOR: "CTMRFusion MR green"}


def color_ramp_node(scene, rgb):
    """A 256-entry colour table from black to ``rgb`` (reused if the scene already has it)."""
    name = _COLOR_NODE_NAMES.get(tuple(rgb), f"CTMRFusion ramp {rgb}")
    existing = scene.GetFirstNodeByName(name)
    if existing is not None:
        return existing
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode")
    node.SetName(name)
    node.SetTypeToUser()
    node.SetNumberOfColors(256)
    node.HideFromEditorsOff()
    for index in range(256):
        level = index / 255.0
        node.SetColor(index, rgb[0] * level, rgb[1] * level, rgb[2] * level, 1.0)
    return node


def _display_node(volume_node):
    if volume_node.GetDisplayNode() is None:
        volume_node.CreateDefaultDisplayNodes()
    return volume_node.GetDisplayNode()


def _colorize(volume_node, rgb) -> None:
    display = _display_node(volume_node)
    display.SetAndObserveColorNodeID(color_ramp_node(volume_node.GetScene(), rgb).GetID())
    low, high = robust_window(mrml_bridge.volume_node_to_sitk(volume_node, include_parent_transforms=False))
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(low, high)


def slice_composite_nodes(scene) -> list:
    """All slice composite nodes of the scene (one per slice view)."""
    nodes = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def show_layers(scene, background_node, foreground_node=None, opacity: float = 0.5) -> None:
    """Put ``background_node`` / ``foreground_node`` (or none) in every slice view, linked, alpha-blended."""
    for composite in slice_composite_nodes(scene):
        composite.SetBackgroundVolumeID(background_node.GetID() if background_node is not None else None)
        composite.SetForegroundVolumeID(foreground_node.GetID() if foreground_node is not None else None)
        composite.SetForegroundOpacity(float(opacity))
        composite.SetCompositing(composite.Alpha)
        composite.SetLinkedControl(True)


def show_blend(ct_node, mr_node, opacity: float = 0.5) -> None:
    """CT purple (background), MR green (foreground) at ``opacity`` in [0, 1], in all slice views."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"Opacity must be in [0, 1], got {opacity}.")
    _colorize(ct_node, CT_COLOR)
    _colorize(mr_node, MR_COLOR)
    show_layers(ct_node.GetScene(), ct_node, mr_node, opacity)


def _normalised_pair(ct_node, mr_on_ct_node) -> tuple[np.ndarray, np.ndarray, sitk.Image]:
    ct = mrml_bridge.volume_node_to_sitk(ct_node)
    mr = mrml_bridge.volume_node_to_sitk(mr_on_ct_node)
    same_grid = (
        ct.GetSize() == mr.GetSize()
        and np.allclose(ct.GetOrigin(), mr.GetOrigin(), atol=1e-3)
        and np.allclose(ct.GetSpacing(), mr.GetSpacing(), atol=1e-5)
        and np.allclose(ct.GetDirection(), mr.GetDirection(), atol=1e-5)
    )
    if not same_grid:
        raise ValueError(
            f"'{mr_on_ct_node.GetName()}' is not on the CT grid: use the registered (resampled) MR volume."
        )
    return normalised_array(ct), normalised_array(mr), ct


def _output_node(scene, output_node, class_name, name):
    if output_node is None:
        output_node = scene.AddNewNodeByClass(class_name)
        output_node.SetName(scene.GenerateUniqueName(name))
    return output_node


def _store(array: np.ndarray, reference: sitk.Image, node) -> None:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    mrml_bridge.update_volume_node_from_sitk(node, image)


def checkerboard_volume(ct_node, mr_on_ct_node, square_mm: float = 20.0, output_node=None):
    """Volume (float, [0, 1]) alternating normalised CT and MR in cubes of ``square_mm`` mm."""
    if square_mm <= 0:
        raise ValueError(f"Checkerboard square size must be > 0 mm, got {square_mm}.")
    ct, mr, reference = _normalised_pair(ct_node, mr_on_ct_node)
    spacing = np.array(reference.GetSpacing())[::-1]
    parity = sum(
        np.floor(np.arange(n) * s / square_mm).astype(int).reshape([-1 if a == axis else 1 for a in range(3)])
        for axis, (n, s) in enumerate(zip(ct.shape, spacing))
    )
    node = _output_node(ct_node.GetScene(), output_node, "vtkMRMLScalarVolumeNode", "CT-MR checkerboard")
    _store(np.where(parity % 2 == 0, ct, mr).astype(np.float32), reference, node)
    return node


def difference_volume(ct_node, mr_on_ct_node, output_node=None):
    """Volume (float, [0, 1]) of |normalised CT - normalised MR|: bright where the two disagree."""
    ct, mr, reference = _normalised_pair(ct_node, mr_on_ct_node)
    node = _output_node(ct_node.GetScene(), output_node, "vtkMRMLScalarVolumeNode", "CT-MR difference")
    _store(np.abs(ct - mr).astype(np.float32), reference, node)
    return node


def rgb_blend_volume(ct_node, mr_on_ct_node, opacity: float = 0.5, output_node=None):
    """The purple/green blend as an RGB vector volume node (uint8 per channel) on the CT grid."""
    ct, mr, reference = _normalised_pair(ct_node, mr_on_ct_node)
    node = _output_node(ct_node.GetScene(), output_node, "vtkMRMLVectorVolumeNode", "CT-MR blend RGB")
    image = sitk.GetImageFromArray(rgb_blend_array(ct, mr, opacity), isVector=True)
    image.CopyInformation(reference)
    mrml_bridge.update_volume_node_from_sitk(node, image)
    _display_node(node)  # an RGB display node, so views show the colours as they are
    return node


def set_mode(mode: str, ct_node, mr_node, opacity: float = 0.5, square_mm: float = 20.0):
    """Switch all slice views to ``mode`` ("blend", "checkerboard", "difference"); returns the shown node.

    Checkerboard and difference need ``mr_node`` resampled on the CT grid; their volumes are created once
    and reused (named after the mode) when the mode is switched again.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown display mode '{mode}' (use {', '.join(MODES)}).")
    scene = ct_node.GetScene()
    if mode == "blend":
        show_blend(ct_node, mr_node, opacity)
        return mr_node
    existing = scene.GetFirstNodeByName(f"CT-MR {mode}")
    if mode == "checkerboard":
        node = checkerboard_volume(ct_node, mr_node, square_mm, existing)
    else:
        node = difference_volume(ct_node, mr_node, existing)
    display = _display_node(node)
    display.SetAndObserveColorNodeID("vtkMRMLColorTableNodeGrey")
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    show_layers(scene, node, None)
    return node
