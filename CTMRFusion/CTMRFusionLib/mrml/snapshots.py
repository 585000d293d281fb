"""Headless screenshots of Slicer's own slice and 3D views (slicer-core + trame-slicer, offscreen EGL).

Outside the Slicer application, trame-slicer's ``SlicerApp`` provides the real MRML scene, application
logic and displayable managers; ``DirectViewFactory(do_render_offscreen=True)`` gives Slicer's slice and 3D
views rendered offscreen. The display logic (:mod:`CTMRFusionLib.mrml.display`) sets the same layers, colours
and volume rendering as inside Slicer, and the views are grabbed to PNG.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml import display, volume_rendering

#: Slice views: (singleton tag, orientation).
SLICE_VIEWS = (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal"))


def offscreen_app():
    """A trame-slicer ``SlicerApp`` with an offscreen view factory (EGL, no display needed)."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from trame_slicer.core import SlicerApp  # noqa: PLC0415 — trame-slicer and VTK load only to render
    from trame_slicer.views import DirectViewFactory  # noqa: PLC0415 — trame-slicer and VTK load only to render

    app = SlicerApp()
    app.view_manager.register_factory(DirectViewFactory(do_render_offscreen=True))
    return app


def create_views(app, size: tuple[int, int] = (512, 512)) -> dict:
    """The three slice views and the 3D view of ``app``, sized ``size`` (pixels): {tag: view}."""
    import vtk  # noqa: PLC0415 — trame-slicer and VTK load only to render
    from trame_slicer.views import ViewLayoutDefinition, ViewProps, ViewType  # noqa: PLC0415 — trame-slicer and VTK load only to render

    # trame-slicer's views observe an interactor event that VTK 9.6 deprecates: silence that warning only.
    warnings_were_shown = vtk.vtkObject.GetGlobalWarningDisplay()
    vtk.vtkObject.GlobalWarningDisplayOff()
    views = {}
    for tag, orientation in SLICE_VIEWS:
        views[tag] = app.view_manager.create_view(
            ViewLayoutDefinition(
                singleton_tag=tag, view_type=ViewType.SLICE_VIEW, properties=ViewProps(orientation=orientation)
            )
        )
    views["ThreeD"] = app.view_manager.create_view(
        ViewLayoutDefinition(singleton_tag="ThreeD", view_type=ViewType.THREE_D_VIEW, properties=ViewProps())
    )
    for view in views.values():
        view.interactor().UpdateSize(*size)
        view.render_window().SetSize(*size)
    vtk.vtkObject.SetGlobalWarningDisplay(warnings_were_shown)
    return views


def grab(view) -> np.ndarray:
    """Render ``view`` once and return its pixels as an (height, width, 3) uint8 array, top row first.

    The capture renders the window itself, so it works while the view's scheduled renders are blocked.
    """
    import vtk  # noqa: PLC0415 — trame-slicer and VTK load only to render
    from vtk.util import numpy_support  # noqa: PLC0415 — trame-slicer and VTK load only to render

    window_to_image = vtk.vtkWindowToImageFilter()
    window_to_image.SetInput(view.render_window())
    window_to_image.SetInputBufferTypeToRGB()
    window_to_image.ReadFrontBufferOff()
    window_to_image.Update()
    output = window_to_image.GetOutput()
    width, height, _ = output.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(output.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])


@contextmanager
def renders_blocked(views: dict):
    """Hold back the renders that every scene change would trigger (seconds each in software OpenGL)."""
    with ExitStack() as stack:
        for view in views.values():
            stack.enter_context(view.render_blocked())
        yield


def close_views(views: dict) -> None:
    """Finalize the views' render windows. Their renderers are detached first: finalizing a window with its
    renderers attached runs each slice view's pipeline once more on inputs being released, and VTK prints
    errors (no lookup table, missing components) after a successful render."""
    for view in views.values():
        window = view.render_window()
        for renderer in list(window.GetRenderers()):
            window.RemoveRenderer(renderer)
        view.finalize()


def save_png(pixels: np.ndarray, path) -> Path:
    """Write an (height, width, 3) uint8 array as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(pixels, isVector=True), str(path))
    return path


def fit_slice_views(views: dict) -> None:
    """Centre and fit every slice view on its background volume."""
    for tag, _ in SLICE_VIEWS:
        views[tag].fit_view_to_content()


def add_volume(scene, image: sitk.Image, name: str):
    """A scalar volume node holding ``image`` in ``scene``, with default display nodes."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    node.SetName(name)
    mrml_bridge.update_volume_node_from_sitk(node, image)
    node.CreateDefaultDisplayNodes()
    return node


def render_fusion_snapshots(
    ct: sitk.Image, mr_on_ct: sitk.Image, out_dir, opacity: float = 0.5, square_mm: float = 20.0, size=(512, 512)
) -> dict[str, Path]:
    """Write PNGs of the blended and checkerboard slice views and the 3D fused rendering.

    ``mr_on_ct``: the registered MR on the CT grid. Files: ``blend_<orientation>.png``,
    ``checkerboard_<orientation>.png`` for axial, sagittal and coronal, and ``fused_3d.png``.
    """
    out_dir = Path(out_dir)
    app = offscreen_app()
    views = create_views(app, size)
    ct_node = add_volume(app.scene, ct, "CT")
    mr_node = add_volume(app.scene, mr_on_ct, "MR registered")
    written = {}
    with renders_blocked(views):  # one render per picture, by the capture itself
        for mode in ("blend", "checkerboard"):
            display.set_mode(mode, ct_node, mr_node, opacity, square_mm)
            fit_slice_views(views)
            for tag, orientation in SLICE_VIEWS:
                name = f"{mode}_{orientation.lower()}"
                written[name] = save_png(grab(views[tag]), out_dir / f"{name}.png")
        volume_rendering.show_fused_in_3d(app.app_logic.GetModuleLogic("VolumeRendering"), ct_node, mr_node)
        views["ThreeD"].reset_camera()
        views["ThreeD"].reset_view()
        written["fused_3d"] = save_png(grab(views["ThreeD"]), out_dir / "fused_3d.png")
    close_views(views)
    return written
