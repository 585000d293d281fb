"""The ``qt`` module as Slicer's Python code sees it (PythonQt), built on PySide6.

Slicer's Python layer (``parameterNodeWrapper``, ``util``, ``ScriptedLoadableModule``) and the module's widget are
written for PythonQt, whose conventions differ from PySide6's in four places, all handled here:

* a Qt property reads and writes as an attribute (``button.enabled = False``, ``spinBox.value``), and takes
  precedence over a method of the same name (``label.text`` is the text, as in PythonQt): each class here has a
  Python ``property`` for every property of its Qt meta-object;
* ``obj.connect("clicked(bool)", slot)`` / ``obj.disconnect(...)`` connect a signal named by its signature;
* ``obj.name`` is the object name;
* the class of a widget is exactly the ``qt`` class of that name (``type(w) == qt.QCheckBox``), and
  ``isinstance`` follows Qt's hierarchy (``isinstance(button, qt.QWidget)``): each class here derives from the
  PySide6 class alone (Shiboken initialises every Qt base of a class, so no second Qt base can be added) and its
  metaclass answers ``isinstance``/``issubclass`` by the PySide6 class.

Classes are made on first use. :class:`QUiLoader` creates these classes (and the CTK/qMRML ones registered with
:func:`register_widget_class`) for the widgets a ``.ui`` file names, and makes the file's signal/slot
connections by name, since the C++ signatures in a ``.ui`` (``vtkMRMLScene*``) have no PySide6 counterpart.
"""

from __future__ import annotations

import sys
import types
import xml.etree.ElementTree as ElementTree

from PySide6 import QtCore, QtGui, QtUiTools, QtWidgets

_SOURCES = (QtCore, QtGui, QtWidgets, QtUiTools)
_made: dict[type, type] = {}
#: Widget classes a .ui may name beyond Qt's own (CTK, qMRML): class name -> class.
_custom_widgets: dict[str, type] = {}


def _qt_property(meta_property) -> property:
    """A Qt property of a PySide6 class as a Python attribute. It reads and writes through the class's own
    QMetaProperty (the C++ accessors): a subclass's meta-object may list these Python properties too, and going
    through it would call back into them."""
    name = meta_property.name()

    def read(self):
        return meta_property.read(self)

    def write(self, value):
        if not meta_property.write(self, value):
            raise AttributeError(f"cannot set property '{name}' of {type(self).__name__} to {value!r}")

    return property(read, write, doc=f"Qt property '{name}'")


#: Qt properties read through a C++ virtual function: PySide6 takes a Python attribute of that name for an override
#: of the virtual, so such a property would call itself. They stay methods.
_VIRTUAL_READERS = frozenset({"sizeHint", "minimumSizeHint"})

_object_name = property(QtCore.QObject.objectName, QtCore.QObject.setObjectName, doc="PythonQt's alias of objectName")


def _signal(obj, signature: str):
    name = signature.strip().split("(", 1)[0]
    signal = getattr(obj, name, None)
    if signal is None or not hasattr(signal, "connect"):
        raise AttributeError(f"{type(obj).__name__} has no signal '{signature}'")
    return signal


def _connect(self, signature, slot):
    """PythonQt's ``obj.connect('signal(args)', callable)``."""
    return _signal(self, signature).connect(slot)


def _disconnect(self, signature, slot=None):
    try:
        return _signal(self, signature).disconnect(*([slot] if slot is not None else []))
    except (RuntimeError, TypeError):
        return False


class _PythonQtType(type(QtCore.QObject)):
    """Metaclass: ``isinstance(x, qt.QWidget)`` is ``isinstance(x, PySide6.QtWidgets.QWidget)``; every class,
    subclasses too, carries PythonQt's ``connect``/``disconnect`` in its own dict (PySide6 resolves an inherited
    ``connect`` to its own static method)."""

    def __new__(mcs, name, bases, namespace):
        namespace.setdefault("connect", _connect)
        namespace.setdefault("disconnect", _disconnect)
        return super().__new__(mcs, name, bases, namespace)

    def __instancecheck__(cls, instance):
        return isinstance(instance, cls._qt_class)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, cls._qt_class)


def _qt_type(cls):
    return getattr(cls, "_qt_class", cls) if type(cls) is _PythonQtType else cls


def _find_children(self, cls, name=""):
    """PySide6 filters children by the class's meta-object: ask for the PySide6 class."""
    return QtCore.QObject.findChildren(self, _qt_type(cls), name)


def _find_child(self, cls, name=""):
    return QtCore.QObject.findChild(self, _qt_type(cls), name)


def pythonqt_class(base: type) -> type:
    """The PythonQt-style class for a PySide6 QObject class (made once)."""
    made = _made.get(base)
    if made is None:
        meta = base.staticMetaObject
        properties = (meta.property(i) for i in range(meta.propertyCount()))
        namespace = {p.name(): _qt_property(p) for p in properties if p.name() not in _VIRTUAL_READERS}
        namespace.update(
            {
                "name": _object_name,
                "__module__": "qt",
                "_qt_class": base,
                "findChildren": _find_children,
                "findChild": _find_child,
            }
        )
        made = _made[base] = _PythonQtType(base.__name__, (base,), namespace)
    return made


def row_layout(parent, stretching, *others) -> None:
    """Lay ``parent``'s child widgets out in one margin-less row: ``stretching`` takes the spare width."""
    layout = QtWidgets.QHBoxLayout(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(stretching, 1)
    for widget in others:
        layout.addWidget(widget)


def register_widget_class(cls: type, name: str | None = None) -> type:
    """Let :class:`QUiLoader` create ``cls`` for the .ui class ``name`` (default: the class's name)."""
    _custom_widgets[name or cls.__name__] = cls
    return cls


class QUiLoader(QtUiTools.QUiLoader):
    """Qt's .ui loader creating the classes above; ``load`` makes the .ui's connections by name."""

    def createWidget(self, class_name, parent=None, name=""):
        cls = _custom_widgets.get(class_name) or _module_attribute(class_name)
        if not isinstance(cls, type) or not issubclass(cls, QtWidgets.QWidget):
            return super().createWidget(class_name, parent, name)
        widget = cls(parent)
        widget.setObjectName(name)
        return widget

    def load(self, device, parent=None):
        if isinstance(device, QtCore.QIODevice):
            text = bytes(device.readAll()).decode("utf-8")
        else:
            with open(device, encoding="utf-8") as handle:
                text = handle.read()
        root = ElementTree.fromstring(text)
        connections = root.find("connections")
        if connections is not None:
            root.remove(connections)
        buffer = QtCore.QBuffer()
        buffer.setData(ElementTree.tostring(root))
        buffer.open(QtCore.QIODevice.OpenModeFlag.ReadOnly)
        widget = super().load(buffer, parent)
        if widget is not None and connections is not None:
            _connect_by_name(widget, connections)
        return widget


def _connect_by_name(top, connections) -> None:
    def find(name):
        if QtCore.QObject.objectName(top) == name:
            return top
        return QtCore.QObject.findChild(top, QtCore.QObject, name)

    for connection in connections.findall("connection"):
        sender, receiver = find(connection.findtext("sender")), find(connection.findtext("receiver"))
        slot = connection.findtext("slot").split("(", 1)[0]
        _signal(sender, connection.findtext("signal")).connect(getattr(receiver, slot))


def _module_attribute(name: str):
    for source in _SOURCES:
        value = getattr(source, name, None)
        if value is not None:
            if isinstance(value, type) and issubclass(value, QtCore.QObject):
                return pythonqt_class(value)
            return value
    return None


def _getattr(name: str):
    if name == "QUiLoader":
        return QUiLoader
    value = _module_attribute(name)
    if value is None:
        raise AttributeError(f"module 'qt' has no attribute '{name}'")
    return value


def make_module() -> types.ModuleType:
    """A fresh ``qt`` module object (attributes resolved on first use)."""
    module = types.ModuleType("qt", __doc__)
    module.__getattr__ = _getattr
    return module


def install() -> types.ModuleType:
    """Put ``qt`` into ``sys.modules`` (once) and return it."""
    if "qt" not in sys.modules:
        sys.modules["qt"] = make_module()
    return sys.modules["qt"]
