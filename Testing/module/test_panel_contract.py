"""The panel binds in real Slicer: the parameter node's fields against Slicer's own binding rules.

Slicer's application cannot run here, so the rules of ``Base/Python/slicer/parameterNodeWrapper`` (Slicer 5.8–5.10:
guiConnectors.py, validators.py, serializers.py, wrapper.py) are encoded below as data:

* ``connectGui`` builds a connector for every widget with a ``SlicerParameterName`` up front; one that cannot
  be built raises, so ``setup()`` fails as a whole.
* A connector matches the widget's exact class (``type(widget) == ...``), never a subclass.
* ``QComboBox`` takes int/float/str/bool only with a ``Choice`` annotation (it then fills the combo with the
  choices itself); an ``Enum`` needs none.
* ``QSlider`` and ``ctkSliderWidget`` refuse an unbounded number (``WithinRange``, or both ``Minimum`` and
  ``Maximum``); ``QSpinBox``/``QDoubleSpinBox`` take any number but have their range *reset* to the annotation's,
  or to ±2³¹ / ±inf without one, so the .ui's range is lost.
* Serializers exist for int, float, str, bool, pathlib paths and ``vtkMRMLNode`` subclasses; ``int`` fields
  accept only ints (``IsInstance(int)``), and every default must pass the field's validators.

The field annotations are evaluated for real: the module's ``CTMRFusionLib`` imports run, ``slicer`` is
slicer-core's (the real MRML node classes); only Slicer's validator classes, which live in the Qt part of
Slicer, are stand-ins holding the same arguments.
"""

import ast
import pathlib
import types
import typing
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import slicer

from CTMRFusionLib.fusion.pipeline import METHODS
from CTMRFusionLib.ml.torchscript import DEVICES
from CTMRFusionLib.mrml.display import MODES
from CTMRFusionLib.registration.options import INITIALIZERS, INTERPOLATORS, OPTION_RANGES, preset_names

MODULE_DIR = Path(__file__).resolve().parents[2] / "CTMRFusion"
MODULE_FILE = MODULE_DIR / "CTMRFusion.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "CTMRFusion.ui"
PATHS = (pathlib.Path, pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePath, pathlib.PurePosixPath)


class Choice:
    def __init__(self, choices):
        self.choices = choices


class WithinRange:
    def __init__(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum


class Minimum:
    def __init__(self, minimum):
        self.minimum = minimum


class Maximum:
    def __init__(self, maximum):
        self.maximum = maximum


@dataclass(frozen=True)
class Connector:
    """One of Slicer's GUI connectors: the value types it binds, and what it needs or does to ranges."""

    types: tuple
    needs_choice: bool = False
    needs_bounds: bool = False  # refuses an unbounded number
    resets_range: bool = False  # takes the annotation's range, ±2**31 / ±inf without one
    nodes: bool = False


CONNECTORS = {
    "QCheckBox": Connector((bool,)),
    "QPushButton": Connector((bool,)),
    "QSpinBox": Connector((int,), resets_range=True),
    "QSlider": Connector((int,), needs_bounds=True, resets_range=True),
    "QDoubleSpinBox": Connector((float,), resets_range=True),
    "ctkSliderWidget": Connector((float,), needs_bounds=True, resets_range=True),
    "QComboBox": Connector((int, float, str, bool), needs_choice=True),
    "QLineEdit": Connector((str,)),
    "QTextEdit": Connector((str,)),
    "ctkPathLineEdit": Connector(PATHS),
    "ctkDirectoryButton": Connector(PATHS),
    "qMRMLNodeComboBox": Connector((), nodes=True),
    "qMRMLSubjectHierarchyTreeView": Connector((), nodes=True),
}


def ui_bindings(ui_text: str) -> dict[str, str]:
    """{parameter name: widget class} of every widget with a SlicerParameterName in a Designer .ui."""
    root = ElementTree.fromstring(ui_text)
    bound = {}
    for widget in root.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.find("string").text] = widget.get("class")
    return bound


def parameter_fields(module_source: str, class_name: str = "CTMRFusionParameterNode") -> dict[str, tuple]:
    """{field: (annotated type, default or None)} of the module's parameter-node class, evaluated with the
    module's own CTMRFusionLib imports and slicer-core's node classes."""
    tree = ast.parse(module_source)
    namespace = {"Annotated": typing.Annotated, "Union": typing.Union, "slicer": slicer, "pathlib": pathlib}
    namespace["parameterNodeWrapper"] = lambda cls: cls
    namespace.update(Choice=Choice, WithinRange=WithinRange, Minimum=Minimum, Maximum=Maximum)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("CTMRFusionLib"):
            exec(compile(ast.Module([node], []), "<imports>", "exec"), namespace)
    cls_node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    exec(compile(ast.Module([cls_node], []), "<parameter node>", "exec"), namespace)
    cls = namespace[class_name]
    hints = typing.get_type_hints(cls, globalns=namespace, include_extras=True)
    return {name: (hint, getattr(cls, name, None)) for name, hint in hints.items()}


def _split(hint):
    if typing.get_origin(hint) is typing.Annotated:
        base, *annotations = typing.get_args(hint)
        return base, annotations
    return hint, []


def _is_node_type(base) -> bool:
    members = typing.get_args(base) if typing.get_origin(base) in (typing.Union, types.UnionType) else (base,)
    members = [m for m in members if m is not type(None)]
    return bool(members) and all(isinstance(m, type) and issubclass(m, slicer.vtkMRMLNode) for m in members)


def _bounds(annotations):
    within = next((a for a in annotations if isinstance(a, WithinRange)), None)
    if within is not None:
        return within.minimum, within.maximum
    low = next((a.minimum for a in annotations if isinstance(a, Minimum)), None)
    high = next((a.maximum for a in annotations if isinstance(a, Maximum)), None)
    return (low, high) if low is not None and high is not None else None


def binding_problems(fields: dict, bindings: dict) -> dict[str, str]:
    """{parameter: why Slicer's connectGui or serializers would fail or misbehave on it}."""
    problems = {}
    for name, widget_class in bindings.items():
        if name not in fields:
            problems[name] = f"the .ui binds '{name}' but the parameter node has no such field"
            continue
        hint, default = fields[name]
        base, annotations = _split(hint)
        connector = CONNECTORS.get(widget_class)
        if connector is None:
            problems[name] = f"no Slicer connector for widget class {widget_class} (classes match exactly)"
        elif connector.nodes:
            if not _is_node_type(base):
                problems[name] = f"{widget_class} binds vtkMRMLNode types, not {base}"
        elif base not in connector.types:
            problems[name] = f"{widget_class} binds {[t.__name__ for t in connector.types]}, not {base}"
        elif connector.needs_choice and not any(isinstance(a, Choice) for a in annotations):
            problems[name] = f"{widget_class} on a plain {base.__name__} requires the Choice annotation"
        elif (connector.needs_bounds or connector.resets_range) and _bounds(annotations) is None:
            effect = "is refused unbounded" if connector.needs_bounds else "gets its range reset to ±inf / ±2**31"
            problems[name] = f"{widget_class} {effect}: annotate WithinRange (or Minimum and Maximum)"
        if name in problems or connector is None or connector.nodes:
            continue
        if base is int and not isinstance(default, int):
            problems[name] = f"default {default!r} of an int field is not an int (IsInstance(int))"
        choice = next((a for a in annotations if isinstance(a, Choice)), None)
        if choice is not None and default not in choice.choices:
            problems[name] = f"default {default!r} is not one of the choices {list(choice.choices)}"
        bounds = _bounds(annotations)
        if bounds is not None and not bounds[0] <= default <= bounds[1]:
            problems[name] = f"default {default!r} is outside {bounds}"
    for name, (hint, _) in fields.items():
        base, _ = _split(hint)
        serializable = base in (int, float, str, bool, *PATHS) or _is_node_type(base)
        if not serializable and name not in problems:
            problems[name] = f"no Slicer serializer for {base}"
    return problems


def test_every_bound_field_binds_in_slicer():
    fields = parameter_fields(MODULE_FILE.read_text())
    bindings = ui_bindings(UI_FILE.read_text())
    assert bindings.keys() == fields.keys(), "every field is bound and every binding has a field"
    assert binding_problems(fields, bindings) == {}


def test_the_panel_offers_exactly_what_the_logic_accepts():
    fields = parameter_fields(MODULE_FILE.read_text())

    def choices(name):
        return tuple(next(a for a in _split(fields[name][0])[1] if isinstance(a, Choice)).choices)

    assert choices("preset") == tuple(preset_names())
    assert choices("interpolator") == INTERPOLATORS and choices("initializer") == INITIALIZERS
    assert choices("displayMode") == MODES and choices("fusionMethod") == METHODS
    assert choices("fusionDevice") == DEVICES
    for field, option in (("histogramBins", "histogram_bins"), ("samplingPercentage", "sampling_percentage")):
        assert _bounds(_split(fields[field][0])[1]) == OPTION_RANGES[option]


#: The parameter node as it was before the annotations (commit a84fa86): it failed in setup() in real Slicer.
UNANNOTATED = """
@parameterNodeWrapper
class CTMRFusionParameterNode:
    ctVolume: slicer.vtkMRMLScalarVolumeNode
    preset: str = "default"
    interpolator: str = "sinc"
    histogramBins: int = 64
    samplingPercentage: float = 0.10
    opacity: float = 0.5
    checkerSquareMm: float = 20.0
"""


def test_the_contract_rejects_the_unannotated_parameter_node():
    fields = parameter_fields(UNANNOTATED)
    bindings = {
        "ctVolume": "qMRMLNodeComboBox",
        "preset": "QComboBox",
        "interpolator": "QComboBox",
        "histogramBins": "QSpinBox",
        "samplingPercentage": "QDoubleSpinBox",
        "opacity": "ctkSliderWidget",
        "checkerSquareMm": "QDoubleSpinBox",
    }
    problems = binding_problems(fields, bindings)
    assert set(problems) == set(bindings) - {"ctVolume"}
    assert "requires the Choice annotation" in problems["preset"]
    assert "refused unbounded" in problems["opacity"]
    assert "range reset" in problems["histogramBins"] and "range reset" in problems["checkerSquareMm"]


def test_the_contract_sees_wrong_classes_defaults_and_types():
    source = """
class CTMRFusionParameterNode:
    interpolator: Annotated[str, Choice(("sinc", "linear"))] = "cubic"
    iterations: Annotated[int, WithinRange(1, 10)] = 2.5
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 1.5
    ctVolume: slicer.vtkMRMLScalarVolumeNode
    label: Annotated[str, Choice(("a",))] = "a"
"""
    problems = binding_problems(
        parameter_fields(source),
        {
            "interpolator": "QComboBox",
            "iterations": "QSpinBox",
            "opacity": "qMRMLSliderWidget",
            "ctVolume": "QComboBox",
            "label": "QLineEdit",
        },
    )
    assert "not one of the choices" in problems["interpolator"]
    assert "not an int" in problems["iterations"]
    assert "no Slicer connector" in problems["opacity"]  # a subclass of ctkSliderWidget does not match
    assert set(problems) == {"interpolator", "iterations", "opacity", "ctVolume"}
