"""``slicer.app`` and scripted-module loading, after the documented API of Slicer's C++ classes.

:class:`SlicerApplication` is the QApplication (qSlicerApplication.h): ``startupCompleted()``, ``moduleManager()``,
``testingEnabled()``, ``layoutManager()`` (None: no main window, as when Slicer runs without one), and
``applicationLogic()`` / ``coreIOManager()`` once :mod:`.console` has made them.
:class:`ModuleManager` (qSlicerModuleManager.h) emits ``moduleAboutToBeUnloaded(QString)``.
:func:`load_scripted_module` does what qSlicerScriptedLoadableModule does with a module file: imports it, makes
the module object with the metadata object as ``parent``, and on first use of the widget makes a
qSlicerScriptedLoadableModuleWidget (a QWidget with a vertical layout and ``isEntered``), constructs the Python
widget class on it and calls ``setup()``; ``enter()``/``exit()`` follow the module selector.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property, Signal

from .pythonqt import pythonqt_class


class ModuleManager(pythonqt_class(QtCore.QObject)):
    """qSlicerModuleManager.h: the loaded modules by name."""

    moduleAboutToBeUnloaded = Signal(str)

    def __init__(self):
        super().__init__()
        self._modules: dict[str, ScriptedModule] = {}
        # Module objects and their widgets live as long as the application, as in Slicer: dropping the last Python
        # reference would let the garbage collector delete Qt widgets in the middle of event processing.
        self._unloaded: list[ScriptedModule] = []

    def module(self, name: str):
        return self._modules.get(name)

    def add(self, module: ScriptedModule) -> None:
        if module.name in self._modules:
            self._unloaded.append(self._modules[module.name])
        self._modules[module.name] = module

    def unload(self, name: str) -> None:
        """What the application does when it quits or a module is reloaded: announce, then forget it."""
        self.moduleAboutToBeUnloaded.emit(name)
        module = self._modules.pop(name, None)
        if module is not None:
            self._unloaded.append(module)

    def factoryManager(self):
        return types.SimpleNamespace(loadedModuleNames=lambda: list(self._modules))


class SlicerApplication(pythonqt_class(QtWidgets.QApplication)):
    """qSlicerApplication.h, the parts a scripted module uses."""

    startupCompleted = Signal()

    def __init__(self, arguments):
        super().__init__(arguments)
        self._moduleManager = ModuleManager()
        self._testing = True
        self._applicationLogic = self._coreIOManager = None

    def moduleManager(self):
        return self._moduleManager

    def testingEnabled(self) -> bool:
        return self._testing

    def setTestingEnabled(self, enabled: bool) -> None:
        self._testing = enabled

    def layoutManager(self):
        return None

    def applicationLogic(self):
        return self._applicationLogic

    def coreIOManager(self):
        return self._coreIOManager

    def userSettings(self):
        return QtCore.QSettings()

    def settings(self):
        return QtCore.QSettings()


class ModuleWidget(pythonqt_class(QtWidgets.QWidget)):
    """qSlicerScriptedLoadableModuleWidget: the panel's host widget; ``self()`` is the Python widget object."""

    def __init__(self):
        super().__init__()
        QtWidgets.QWidget.setLayout(self, QtWidgets.QVBoxLayout())
        self._entered = False
        self._python = None

    def self(self):
        return self._python

    isEntered = Property(bool, lambda self: self._entered)


class ScriptedModule(pythonqt_class(QtCore.QObject)):
    """qSlicerScriptedLoadableModule: the module's metadata (set by the Python module class) and its widget."""

    def __init__(self, name: str, path: Path, python_module):
        super().__init__()
        self.name, self.path, self.pythonModule = name, str(path), python_module
        self.title, self.categories, self.dependencies, self.contributors = "", [], [], []
        self.helpText = self.acknowledgementText = ""
        self.icon = None
        self._widget: ModuleWidget | None = None
        self.instance = getattr(python_module, name)(self)

    def widgetRepresentation(self) -> ModuleWidget:
        if self._widget is None:
            host = ModuleWidget()
            host._python = getattr(self.pythonModule, f"{self.name}Widget")(host)
            host._python.setup()
            self._widget = host
        return self._widget

    def enter(self) -> None:
        """The module selector shows this module."""
        widget = self.widgetRepresentation()
        widget._entered = True
        widget._python.enter()

    def exit(self) -> None:
        widget = self.widgetRepresentation()
        widget._entered = False
        widget._python.exit()


class LoadableModule:
    """A C++ loadable module as Python sees it (qSlicerAbstractCoreModule): its name and ``logic()``."""

    def __init__(self, name: str, logic):
        self.name, self._logic = name, logic

    def logic(self):
        return self._logic


def write_python_launcher(folder: Path) -> Path:
    """``PythonSlicer`` in ``folder``, made like CTK's launcher: it runs this interpreter as its child and waits
    (it forwards no signal). Put ``folder`` on PATH to have commands started through it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "PythonSlicer"
    script.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\nexit $?\n')
    script.chmod(0o755)
    return script


def load_scripted_module(app: SlicerApplication, module_file: Path) -> ScriptedModule:
    """Import a scripted module file as Slicer does and register it; ``slicer.modules.<name lower>`` is set."""
    import slicer

    module_file = Path(module_file).resolve()
    name = module_file.stem
    # Slicer puts the module's folder on sys.path so that CTMRFusionLib imports; here the package is installed.
    spec = importlib.util.spec_from_file_location(name, module_file)
    python_module = importlib.util.module_from_spec(spec)
    sys.modules[name] = python_module
    spec.loader.exec_module(python_module)
    module = ScriptedModule(name, module_file, python_module)
    app.moduleManager().add(module)
    setattr(slicer.modules, name.lower(), module)
    return module
