"""The qMRML widgets a Slicer panel uses, as small PySide6 classes bound to slicer-core's real ``vtkMRMLScene``.

Each has the properties, signals and slots of its C++ header in Slicer (Libs/MRML/Widgets) that a panel and
Slicer's ``parameterNodeWrapper`` use. :class:`qMRMLNodeComboBox` lists the scene's nodes of its ``nodeTypes``
(subclasses included, nodes hidden from editors left out) in a real combo box, follows the scene as nodes are
added and removed, and, as in Slicer, selects the first node by itself when "None" is not offered.
"""

from __future__ import annotations

import shiboken6
import vtk
from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Property, Signal

from .pythonqt import pythonqt_class, register_widget_class, row_layout

qt_widget = pythonqt_class(QtWidgets.QWidget)


class qMRMLWidget(qt_widget):
    """qMRMLWidget.h: a widget holding a scene; setMRMLScene emits mrmlSceneChanged(vtkMRMLScene*)."""

    mrmlSceneChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None

    def mrmlScene(self):
        return self._scene

    def setMRMLScene(self, scene) -> None:
        if scene is not self._scene:
            self._scene = scene
            self.mrmlSceneChanged.emit(scene)


class qMRMLNodeComboBox(qt_widget):
    """qMRMLNodeComboBox.h: the scene's nodes of ``nodeTypes``; ``currentNodeChanged(vtkMRMLNode*)``."""

    currentNodeChanged = Signal(object)
    currentNodeIDChanged = Signal(str)
    nodeAdded = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None
        self._observations: list[int] = []
        self._nodeTypes: list[str] = []
        self._noneEnabled = False
        self._flags = {"addEnabled": True, "removeEnabled": True, "renameEnabled": False, "editEnabled": False}
        self._current = None
        self._combo = QtWidgets.QComboBox(self)
        row_layout(self, self._combo)
        self._combo.currentIndexChanged.connect(self._onIndexChanged)
        QtWidgets.QWidget.setEnabled(self, False)  # disabled until it has a scene, as in Slicer

    # Properties (the header's Q_PROPERTYs the .ui and the connectors set).
    def getNodeTypes(self):
        return list(self._nodeTypes)

    def setNodeTypes(self, types) -> None:
        self._nodeTypes = [str(t) for t in types]
        self._populate()

    def getNoneEnabled(self) -> bool:
        return self._noneEnabled

    def setNoneEnabled(self, enabled: bool) -> None:
        self._noneEnabled = bool(enabled)
        self._populate()

    def _flag(name):
        return Property(bool, lambda self: self._flags[name], lambda self, v: self._flags.__setitem__(name, bool(v)))

    nodeTypes = Property("QStringList", getNodeTypes, setNodeTypes)
    noneEnabled = Property(bool, getNoneEnabled, setNoneEnabled)
    addEnabled = _flag("addEnabled")
    removeEnabled = _flag("removeEnabled")
    renameEnabled = _flag("renameEnabled")
    editEnabled = _flag("editEnabled")
    currentNodeID = Property(str, lambda self: self._currentID(), lambda self, v: self.setCurrentNodeID(v))
    del _flag

    # Scene.
    def mrmlScene(self):
        return self._scene

    def setMRMLScene(self, scene) -> None:
        if self._scene is not None:
            for tag in self._observations:
                self._scene.RemoveObserver(tag)
        self._scene, self._observations = scene, []
        if scene is not None:
            for event in (scene.NodeAddedEvent, scene.NodeRemovedEvent, scene.EndCloseEvent, scene.EndImportEvent):
                self._observations.append(scene.AddObserver(event, self._onSceneChanged))
        QtWidgets.QWidget.setEnabled(self, scene is not None)
        self._populate()

    def _onSceneChanged(self, caller, event) -> None:
        if not shiboken6.isValid(self):  # the widget was deleted: stop observing, as its C++ destructor does
            for tag in self._observations:
                caller.RemoveObserver(tag)
            self._observations = []
            return
        if self._scene is not None and self._scene.IsBatchProcessing() and event != "EndCloseEvent":
            return
        self._populate()

    def nodes(self) -> list:
        if self._scene is None or not self._nodeTypes:
            return []
        found = []
        for index in range(self._scene.GetNumberOfNodes()):
            node = self._scene.GetNthNode(index)
            if node.GetHideFromEditors() or not any(node.IsA(t) for t in self._nodeTypes):
                continue
            found.append(node)
        return found

    def nodeCount(self) -> int:
        return len(self.nodes())

    def _populate(self) -> None:
        entries = ([None] if self._noneEnabled else []) + self.nodes()
        keep = self._current if self._current in entries else None
        self._combo.blockSignals(True)
        self._combo.clear()
        for node in entries:
            self._combo.addItem("None" if node is None else node.GetName())
        self._entries = entries
        index = entries.index(keep) if keep in entries else (0 if entries else -1)
        self._combo.setCurrentIndex(index)
        self._combo.blockSignals(False)
        self._setCurrent(entries[index] if index >= 0 else None)

    def _onIndexChanged(self, index: int) -> None:
        self._setCurrent(self._entries[index] if 0 <= index < len(self._entries) else None)

    def _setCurrent(self, node) -> None:
        if node is self._current:
            return
        self._current = node
        self.currentNodeChanged.emit(node)
        self.currentNodeIDChanged.emit(node.GetID() if node is not None else "")

    # Slots and accessors.
    def currentNode(self):
        return self._current

    def _currentID(self) -> str:
        return self._current.GetID() if self._current is not None else ""

    def setCurrentNode(self, node) -> None:
        if isinstance(node, str):
            node = self._scene.GetNodeByID(node) if self._scene is not None else None
        entries = getattr(self, "_entries", [])
        if node is not None and node not in entries:
            self._populate()
            entries = self._entries
        if node is None and None not in entries:
            self._combo.setCurrentIndex(-1)
            self._setCurrent(None)
            return
        if node in entries:
            self._combo.setCurrentIndex(entries.index(node))
            self._setCurrent(node)

    def setCurrentNodeID(self, node_id: str) -> None:
        self.setCurrentNode(self._scene.GetNodeByID(node_id) if self._scene is not None and node_id else None)


class qMRMLTableView(pythonqt_class(QtWidgets.QTableView)):
    """qMRMLTableView.h: shows a vtkMRMLTableNode; follows the node's changes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None
        self._table = None
        self._tag = None
        self._model = QtGui.QStandardItemModel(self)
        QtWidgets.QTableView.setModel(self, self._model)

    def setMRMLScene(self, scene) -> None:
        self._scene = scene

    def mrmlTableNode(self):
        return self._table

    def setMRMLTableNode(self, node) -> None:
        if self._table is not None and self._tag is not None:
            self._table.RemoveObserver(self._tag)
        self._table, self._tag = node, None
        if node is not None:
            self._tag = node.AddObserver(vtk.vtkCommand.ModifiedEvent, self._onTableModified)
        self._refresh()

    def _onTableModified(self, caller, event) -> None:
        if not shiboken6.isValid(self):
            caller.RemoveObserver(self._tag)
            return
        self._refresh()

    def _refresh(self) -> None:
        self._model.clear()
        table = self._table.GetTable() if self._table is not None else None
        if table is None:
            return
        columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
        self._model.setHorizontalHeaderLabels([column.GetName() for column in columns])
        for row in range(table.GetNumberOfRows()):
            cells = []
            for column in columns:
                value = column.GetValue(row)
                cells.append(QtGui.QStandardItem(f"{value:.2f}" if isinstance(value, float) else str(value)))
            self._model.appendRow(cells)


class qSlicerWidget(qMRMLWidget):
    """qSlicerWidget.h: a qMRMLWidget inside the application."""


def _named_only(name: str, base: type) -> type:
    return type(name, (pythonqt_class(base),), {"__doc__": f"{name}: named for Slicer's connector checks only."})


def widget_classes() -> dict[str, type]:
    """The ``slicer.q*`` widget classes, registered with the .ui loader."""
    classes = {cls.__name__: register_widget_class(cls) for cls in (qMRMLWidget, qMRMLNodeComboBox, qMRMLTableView)}
    classes["qSlicerWidget"] = qSlicerWidget
    for name in ("qMRMLSliderWidget", "qMRMLSpinBox", "qMRMLRangeWidget"):
        classes[name] = _named_only(name, QtWidgets.QWidget)
    return classes
