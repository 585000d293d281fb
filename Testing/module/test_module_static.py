"""The Slicer module outside Slicer: the .ui is valid Designer XML and matches the Python that uses it."""

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parents[2] / "CTMRFusion"
MODULE_FILE = MODULE_DIR / "CTMRFusion.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "CTMRFusion.ui"


def _module_tree():
    return ast.parse(MODULE_FILE.read_text())


def test_module_defines_module_widget_logic_and_test_classes():
    classes = {node.name for node in _module_tree().body if isinstance(node, ast.ClassDef)}
    assert {"CTMRFusion", "CTMRFusionWidget", "CTMRFusionLogic", "CTMRFusionTest"} <= classes


def test_ui_is_designer_xml_and_has_every_widget_the_python_uses():
    root = ElementTree.parse(UI_FILE).getroot()
    assert root.tag == "ui" and root.find("widget").get("class") == "qMRMLWidget"
    names = {widget.get("name") for widget in root.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_FILE.read_text()))
    assert used, "the widget should use its .ui"
    assert used <= names, f"missing in the .ui: {sorted(used - names)}"


def test_every_bound_widget_names_a_parameter_node_field():
    root = ElementTree.parse(UI_FILE).getroot()
    bound = {prop.find("string").text for prop in root.iter("property") if prop.get("name") == "SlicerParameterName"}
    parameter_class = next(
        node
        for node in _module_tree().body
        if isinstance(node, ast.ClassDef) and node.name == "CTMRFusionParameterNode"
    )
    fields = {statement.target.id for statement in parameter_class.body if isinstance(statement, ast.AnnAssign)}
    assert bound == fields, f"unbound fields: {sorted(fields - bound)}; unknown names: {sorted(bound - fields)}"


def test_only_the_module_file_imports_qt():
    for path in (MODULE_DIR / "CTMRFusionLib").rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"qt", "ctk", "slicer.ScriptedLoadableModule", "slicer.util"}, path.name


def test_the_self_test_runs_every_test_method_including_the_panel():
    """Slicer's ctest runs CTMRFusionTest.runTest: a test method it does not call never runs."""
    test_class = next(n for n in _module_tree().body if isinstance(n, ast.ClassDef) and n.name == "CTMRFusionTest")
    methods = {n.name for n in test_class.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    run_test = next(n for n in test_class.body if isinstance(n, ast.FunctionDef) and n.name == "runTest")
    called = {n.attr for n in ast.walk(run_test) if isinstance(n, ast.Attribute) and n.attr.startswith("test_")}
    assert methods <= called, f"runTest does not run {sorted(methods - called)}"
    assert "test_panel_registers_the_sample_pair" in methods
    panel_test = next(n for n in test_class.body if getattr(n, "name", "") == "test_panel_registers_the_sample_pair")
    source = ast.unparse(panel_test)
    assert "selectModule" in source and "getModuleWidget" in source and "registerButton.click()" in source


def test_the_extension_ships_its_license_at_the_root():
    """The Extensions Index requires a LICENSE file at the repository root; it must match pyproject's."""
    root = MODULE_DIR.parent
    text = (root / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = "Apache-2.0"' in (root / "pyproject.toml").read_text()


def test_torch_comes_from_the_pytorch_extension_with_a_minimum_version_never_an_unpinned_pip():
    import json

    import tomllib

    from CTMRFusionLib.ml.torchscript import MINIMUM_TORCH, TORCH_REQUIREMENT

    source = MODULE_FILE.read_text()
    assert "pip_install" not in source, "torch is installed by PyTorchUtils (CPU/CUDA build), not by pip"
    calls = [
        n for n in ast.walk(_module_tree()) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "installTorch"
    ]
    assert calls and all(
        any(
            k.arg == "torchVersionRequirement" and getattr(k.value, "id", "") == "TORCH_REQUIREMENT" for k in c.keywords
        )
        for c in calls
    ), "every installTorch call passes the minimum version"
    root = MODULE_DIR.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"torch{TORCH_REQUIREMENT}" in extras["deep"] and TORCH_REQUIREMENT == ">={}.{}".format(*MINIMUM_TORCH)
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in (root / "CMakeLists.txt").read_text()
    assert json.loads((root / "docs" / "CTMRFusion.json").read_text())["build_dependencies"] == ["PyTorch"]
