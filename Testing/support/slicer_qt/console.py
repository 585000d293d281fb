"""The Slicer Python console, as a script typed into it meets the application.

:func:`open_console` builds on :func:`support.slicer_qt.install` (Slicer's own Python layer, a real Qt, slicer-core's
real MRML scene) what the application has set up by the time its console opens:

* the application logic (slicer-core's real ``vtkSlicerApplicationLogic`` on the scene: selection and
  interaction nodes, the Colors module's default tables) and ``slicer.app.coreIOManager()``
  (:mod:`.io_manager`), so that ``slicer.util.loadVolume`` and ``slicer.util.loadMarkups`` load files as Slicer
  does;
* the Volumes, Markups and Volume Rendering modules with slicer-core's real logics
  (``slicer.modules.volumerendering.logic()``, ``slicer.util.getModuleLogic``);
* ``SampleData`` (:mod:`.sample_data`) and the CTMRFusion module, loaded from ``CTMRFusion/CTMRFusion.py`` and
  announced ``startupCompleted()``, so its own code registers the bundled pair with Sample Data;
* ``PythonSlicer`` on PATH, the launcher through which the module starts its worker processes.

The returned namespace is the console's: ``slicer``, ``vtk``, ``qt`` and ``ctk`` are imported, ``__name__`` is
``"__main__"``. Not modelled (blocks that need them are the desktop application's): views and the layout
manager, and the DICOM database.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import install, uninstall
from .application import LoadableModule, load_scripted_module, write_python_launcher
from .io_manager import CoreIOManager
from .sample_data import make_module

MODULE_FILE = Path(__file__).resolve().parents[3] / "CTMRFusion" / "CTMRFusion.py"


def open_console(folder: Path) -> dict:
    """Set the application up (its settings, cache and launcher under ``folder``); the console's namespace."""
    import vtk

    slicer = install(folder / "settings")
    scene = slicer.mrmlScene
    application_logic = slicer.vtkSlicerApplicationLogic()
    application_logic.SetMRMLScene(scene)
    colors = slicer.vtkMRMLColorLogic()  # the default color tables volumes are shown with
    colors.SetMRMLApplicationLogic(application_logic)
    colors.SetMRMLScene(scene)
    application_logic.SetModuleLogic("Colors", colors)
    application_logic.SetColorLogic(colors)
    app = slicer.app
    app._applicationLogic = application_logic
    app._coreIOManager = CoreIOManager(scene, application_logic)
    volume_rendering = slicer.vtkSlicerVolumeRenderingLogic()
    volume_rendering.SetMRMLApplicationLogic(application_logic)
    volume_rendering.SetMRMLScene(scene)
    for name, logic in (
        ("Volumes", app._coreIOManager._volumes),
        ("Markups", app._coreIOManager._markups),
        ("VolumeRendering", volume_rendering),
    ):
        application_logic.SetModuleLogic(name, logic)
        module = LoadableModule(name, logic)
        app.moduleManager().add(module)
        setattr(slicer.modules, name.lower(), module)
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    sys.modules["SampleData"] = make_module(folder / "cache")
    launcher = write_python_launcher(folder / "bin")
    os.environ["PATH"] = f"{launcher.parent}{os.pathsep}{os.environ['PATH']}"
    load_scripted_module(app, MODULE_FILE)
    app.startupCompleted.emit()
    return {"__name__": "__main__", "slicer": slicer, "vtk": vtk, "qt": sys.modules["qt"], "ctk": sys.modules["ctk"]}


def close_console(folder: Path) -> None:
    """Undo :func:`open_console`: the module unloaded, the scene cleared, PATH and the ``slicer`` package as before."""
    import slicer

    manager = slicer.app.moduleManager()
    for name in ("CTMRFusion", "Volumes", "Markups", "VolumeRendering"):
        if manager.module(name) is not None:
            manager.unload(name)
    slicer.mrmlScene.Clear(0)
    slicer.app._applicationLogic = slicer.app._coreIOManager = None
    sys.modules.pop("SampleData", None)
    launcher_folder = str(folder / "bin")
    os.environ["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != launcher_folder)
    uninstall()
