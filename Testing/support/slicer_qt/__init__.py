"""Slicer's own Python layer under a real Qt, for tests that drive the module panel as Slicer does.

:func:`install` puts together what the Slicer application provides to a scripted module:

* ``qt``: PySide6 (offscreen) with PythonQt's conventions (:mod:`.pythonqt`); ``ctk`` and the qMRML widgets as
  small PySide6 classes after their C++ headers (:mod:`.ctk_widgets`, :mod:`.mrml_widgets`);
* Slicer's own, unmodified Python layer from ``../shared/slicer-python`` (``slicer.util``, ``slicer.i18n``,
  ``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule``) loaded in front of slicer-core's ``slicer``
  package, whose MRML classes are Slicer's real ones;
* ``slicer.app`` (:class:`.application.SlicerApplication`), ``slicer.mrmlScene`` (a real ``vtkMRMLScene``) and
  ``slicer.modules``.

:func:`uninstall` restores the ``slicer`` package as it was, so the rest of a test session sees slicer-core alone.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

#: Slicer v5.12.3's Python layer, beside the project (see its SOURCE.md).
SLICER_PYTHON = Path(__file__).resolve().parents[4] / "shared" / "slicer-python"
SLICER_MODULES = ("util", "i18n", "parameterNodeWrapper", "ScriptedLoadableModule", "testing")
SKIP_REASON = f"Slicer's Python layer is not at {SLICER_PYTHON} (see ../shared/slicer-python/SOURCE.md)"

_saved: dict | None = None


def available() -> bool:
    return (SLICER_PYTHON / "slicer" / "parameterNodeWrapper" / "wrapper.py").is_file()


def _is_slicer_layer(name: str) -> bool:
    return any(name == f"slicer.{m}" or name.startswith(f"slicer.{m}.") for m in SLICER_MODULES)


def install(settings_folder: Path):
    """Make the environment; returns ``slicer`` (with ``app``, ``mrmlScene``, ``modules``). Idempotent."""
    if _saved is not None:
        return sys.modules["slicer"]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import slicer

    from . import ctk_widgets, mrml_widgets, pythonqt
    from .application import ModuleWidget, ScriptedModule, SlicerApplication

    saved = {
        "modules": {n: m for n, m in sys.modules.items() if n in ("qt", "ctk") or _is_slicer_layer(n)},
        "path": list(slicer.__path__),
        "attributes": {n: getattr(slicer, n) for n in ("util", "app", "mrmlScene", "modules") if hasattr(slicer, n)},
    }
    for name in saved["modules"]:
        del sys.modules[name]
    sys.modules["qt"] = pythonqt.make_module()
    sys.modules["ctk"] = ctk_widgets.make_module()
    for name, cls in mrml_widgets.widget_classes().items():
        setattr(slicer, name, cls)
    slicer.qSlicerScriptedLoadableModule = ScriptedModule
    slicer.qSlicerScriptedLoadableModuleWidget = ModuleWidget

    QtCore = importlib.import_module("PySide6.QtCore")
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, str(settings_folder))
    QtCore.QCoreApplication.setOrganizationName("CTMRFusionTests")
    app = QtCore.QCoreApplication.instance()
    if app is None:
        app = SlicerApplication(["Slicer"])
        QtCore.QCoreApplication.setApplicationName("Slicer")
    slicer.app = app
    slicer.mrmlScene = slicer.vtkMRMLScene()
    slicer.modules = types.SimpleNamespace()

    slicer.__path__.insert(0, str(SLICER_PYTHON / "slicer"))
    for name in ("util", "i18n", "parameterNodeWrapper", "ScriptedLoadableModule"):
        setattr(slicer, name, importlib.import_module(f"slicer.{name}"))
    globals()["_saved"] = saved
    return slicer


def uninstall() -> None:
    """Put back slicer-core's ``slicer`` package (the QApplication stays: Qt makes one per process)."""
    global _saved
    if _saved is None:
        return
    import slicer

    for name in [n for n in sys.modules if n in ("qt", "ctk") or _is_slicer_layer(n)]:
        del sys.modules[name]
    sys.modules.update(_saved["modules"])
    slicer.__path__[:] = _saved["path"]
    for name in ("util", "app", "mrmlScene", "modules", "i18n", "parameterNodeWrapper", "ScriptedLoadableModule"):
        if hasattr(slicer, name):
            delattr(slicer, name)
    for name, value in _saved["attributes"].items():
        setattr(slicer, name, value)
    _saved = None
