"""The fused CT + MR in Slicer's 3D view: bone from the CT, soft tissue from the registered MR.

Uses Slicer's own volume rendering logic (``vtkSlicerVolumeRenderingLogic``: inside Slicer
``slicer.modules.volumerendering.logic()``, outside it the one registered in trame-slicer's application
logic). Transfer functions are set from intensity percentiles inside each image's body mask, so they
work for CT in HU or in 8-bit and for MR at any scale: the CT's brightest ~3 % (bone) opaque and purple,
the MR's brightest 40 % (soft tissue) faint and green, so the bone shows through.
"""

from __future__ import annotations

import vtk

from CTMRFusionLib.imaging.blend import CT_COLOR, MR_COLOR
from CTMRFusionLib.imaging.body_mask import body_percentiles
from CTMRFusionLib.mrml import bridge as mrml_bridge


def _set_ramp(display_node, low: float, high: float, rgb, max_opacity: float) -> None:
    """Opacity 0 below ``low`` rising to ``max_opacity`` at ``high``; colour from dark to ``rgb``."""
    high = max(high, low + 1e-3)
    volume_property = display_node.GetVolumePropertyNode().GetVolumeProperty()
    opacity = vtk.vtkPiecewiseFunction()
    opacity.AddPoint(low - 1e-3 * (high - low) - 1.0, 0.0)
    opacity.AddPoint(low, 0.0)
    opacity.AddPoint(high, max_opacity)
    colors = vtk.vtkColorTransferFunction()
    colors.AddRGBPoint(low, 0.3 * rgb[0], 0.3 * rgb[1], 0.3 * rgb[2])
    colors.AddRGBPoint(high, *rgb)
    volume_property.SetScalarOpacity(opacity)
    volume_property.SetColor(colors)
    volume_property.ShadeOn()
    volume_property.SetInterpolationTypeToLinear()


def show_fused_in_3d(volume_rendering_logic, ct_node, mr_node) -> tuple:
    """Volume-render ``ct_node`` (bone, purple) and ``mr_node`` (soft tissue, green) in the 3D views.

    Returns the two volume rendering display nodes (created once, then reused).
    """
    displays = []
    for node, percentiles, rgb, max_opacity in (
        (ct_node, (97.0, 99.7), CT_COLOR, 0.9),
        (mr_node, (60.0, 99.5), MR_COLOR, 0.04),
    ):
        display_node = volume_rendering_logic.GetFirstVolumeRenderingDisplayNode(node)
        if display_node is None:
            display_node = volume_rendering_logic.CreateDefaultVolumeRenderingNodes(node)
        low, high = body_percentiles(
            mrml_bridge.volume_node_to_sitk(node, include_parent_transforms=False), percentiles
        )
        _set_ramp(display_node, low, high, rgb, max_opacity)
        display_node.SetVisibility(True)
        displays.append(display_node)
    return tuple(displays)
