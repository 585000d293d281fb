"""The ``ctk`` module: the CTK widgets a Slicer panel uses, as small PySide6 classes.

Each class has the properties, signals and slots of its C++ header in commontk/CTK (Libs/Widgets) that a panel
and Slicer's ``parameterNodeWrapper`` use, and nothing of CTK's implementation. The widgets this project's panel
does not use, but that Slicer's ``guiConnectors`` names in its ``type(widget) in (...)`` checks
(``ctkCheckBox``, ``ctkComboBox``, ``ctkDoubleSpinBox``, ...), are classes of the right Qt base with no more API,
so those checks evaluate as in Slicer.
"""

from __future__ import annotations

import types

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property, Signal

from .pythonqt import pythonqt_class, register_widget_class, row_layout

qt_widget = pythonqt_class(QtWidgets.QWidget)
HEADER_HEIGHT = 22  # pixels of a collapsible button's header


def _show_contents(widget, visible: bool) -> None:
    """Show or hide a collapsible widget's contents: its direct child widgets."""
    for child in QtCore.QObject.findChildren(widget, QtWidgets.QWidget, options=QtCore.Qt.FindDirectChildrenOnly):
        child.setVisible(visible)


class ctkCollapsibleButton(pythonqt_class(QtWidgets.QAbstractButton)):
    """ctkCollapsibleButton.h: a checkable header button whose children show while it is expanded."""

    contentsCollapsed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._collapsed = False
        QtWidgets.QAbstractButton.setCheckable(self, True)
        QtWidgets.QAbstractButton.setChecked(self, True)
        QtWidgets.QWidget.setContentsMargins(self, 0, HEADER_HEIGHT + 2, 0, 0)  # the contents start below the header
        self.toggled.connect(lambda checked: self.setCollapsed(not checked))

    def getCollapsed(self) -> bool:
        return self._collapsed

    def setCollapsed(self, collapsed: bool) -> None:
        if collapsed == self._collapsed:
            return
        self._collapsed = collapsed
        QtWidgets.QAbstractButton.setChecked(self, not collapsed)
        _show_contents(self, not collapsed)
        self.contentsCollapsed.emit(collapsed)

    collapsed = Property(bool, getCollapsed, setCollapsed)

    def sizeHint(self):
        layout = QtWidgets.QWidget.layout(self)
        hint = layout.sizeHint() if layout is not None and not self._collapsed else QtCore.QSize(0, 0)
        return QtCore.QSize(max(hint.width(), 200), max(hint.height(), HEADER_HEIGHT))

    def paintEvent(self, event):
        from PySide6 import QtGui

        painter = QtGui.QPainter(self)
        option = QtWidgets.QStyleOptionButton()
        option.initFrom(self)
        option.rect = QtCore.QRect(0, 0, QtWidgets.QWidget.width(self), HEADER_HEIGHT)
        option.text = ("▸ " if self._collapsed else "▾ ") + QtWidgets.QAbstractButton.text(self)
        QtWidgets.QWidget.style(self).drawControl(QtWidgets.QStyle.CE_PushButton, option, painter, self)
        painter.end()

    def hitButton(self, position):
        return position.y() < HEADER_HEIGHT


class ctkCollapsibleGroupBox(pythonqt_class(QtWidgets.QGroupBox)):
    """ctkCollapsibleGroupBox.h: a checkable group box that hides its children when collapsed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._collapsed = False
        QtWidgets.QGroupBox.setCheckable(self, True)
        QtWidgets.QGroupBox.setChecked(self, True)
        self.toggled.connect(lambda checked: self.setCollapsed(not checked))

    def getCollapsed(self) -> bool:
        return self._collapsed

    def setCollapsed(self, collapsed: bool) -> None:
        self._collapsed = collapsed
        QtWidgets.QGroupBox.setChecked(self, not collapsed)
        _show_contents(self, not collapsed)

    collapsed = Property(bool, getCollapsed, setCollapsed)


class ctkSliderWidget(qt_widget):
    """ctkSliderWidget.h: a slider beside a spin box on one double value."""

    valueChanged = Signal(float)
    valueIsChanging = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._spin = QtWidgets.QDoubleSpinBox(self)
        self._slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, self)
        self._slider.setRange(0, 1000)
        row_layout(self, self._slider, self._spin)
        self._spin.valueChanged.connect(self._onSpin)
        self._slider.valueChanged.connect(self._onSlider)

    def _onSpin(self, value):
        span = self._spin.maximum() - self._spin.minimum()
        self._slider.blockSignals(True)
        self._slider.setValue(round(1000 * (value - self._spin.minimum()) / span) if span > 0 else 0)
        self._slider.blockSignals(False)
        self.valueChanged.emit(value)

    def _onSlider(self, position):
        self._spin.setValue(self._spin.minimum() + (self._spin.maximum() - self._spin.minimum()) * position / 1000)

    def _property(getter, setter):
        return Property(float, getter, setter)

    value = _property(lambda self: self._spin.value(), lambda self, v: self._spin.setValue(v))
    minimum = _property(lambda self: self._spin.minimum(), lambda self, v: self._spin.setMinimum(v))
    maximum = _property(lambda self: self._spin.maximum(), lambda self, v: self._spin.setMaximum(v))
    singleStep = _property(lambda self: self._spin.singleStep(), lambda self, v: self._spin.setSingleStep(v))
    decimals = Property(int, lambda self: self._spin.decimals(), lambda self, v: self._spin.setDecimals(v))
    del _property

    def setValue(self, value: float) -> None:
        self._spin.setValue(value)


class ctkPathLineEdit(qt_widget):
    """ctkPathLineEdit.h: a line edit for a file path, with a browse button."""

    currentPathChanged = Signal(str)
    validInputChanged = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._edit = QtWidgets.QLineEdit(self)
        self._browse = QtWidgets.QToolButton(self)
        self._browse.setText("…")
        self._nameFilters: list[str] = []
        row_layout(self, self._edit, self._browse)
        self._edit.textChanged.connect(self.currentPathChanged.emit)

    def getCurrentPath(self) -> str:
        return self._edit.text()

    def setCurrentPath(self, path: str) -> None:
        if path != self._edit.text():
            self._edit.setText(path)

    currentPath = Property(str, getCurrentPath, setCurrentPath)
    nameFilters = Property(
        "QStringList", lambda self: self._nameFilters, lambda self, v: setattr(self, "_nameFilters", list(v))
    )


def _named_only(name: str, base: type) -> type:
    return type(name, (pythonqt_class(base),), {"__doc__": f"{name}: named for Slicer's connector checks only."})


def make_module() -> types.ModuleType:
    module = types.ModuleType("ctk", __doc__)
    for cls in (ctkCollapsibleButton, ctkCollapsibleGroupBox, ctkSliderWidget, ctkPathLineEdit):
        setattr(module, cls.__name__, register_widget_class(cls))
    for name, base in {
        "ctkCheckBox": QtWidgets.QCheckBox,
        "ctkCheckablePushButton": QtWidgets.QPushButton,
        "ctkComboBox": QtWidgets.QComboBox,
        "ctkDoubleSpinBox": QtWidgets.QWidget,
        "ctkDoubleSlider": QtWidgets.QWidget,
        "ctkRangeWidget": QtWidgets.QWidget,
        "ctkDoubleRangeSlider": QtWidgets.QWidget,
        "ctkDirectoryButton": QtWidgets.QWidget,
        "ctkColorPickerButton": QtWidgets.QPushButton,
    }.items():
        setattr(module, name, _named_only(name, base))
    return module
