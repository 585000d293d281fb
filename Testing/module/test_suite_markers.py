"""The suite's own contract: every test that reads ../shared/data carries the ``real_data`` marker."""

import ast
from pathlib import Path

TESTING = Path(__file__).resolve().parents[1]


def _marks(decorators) -> set[str]:
    names = set()
    for decorator in decorators:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "mark":
            names.add(node.attr)
    return names


def _module_marks(tree) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            return {value.attr for value in values if isinstance(value, ast.Attribute)}
    return set()


def _calls_shared_data(function) -> bool:
    return any(
        isinstance(node, ast.Call) and getattr(node.func, "id", "") == "shared_path"
        for node in ast.walk(function)
    )  # fmt: skip


def unmarked_real_data_tests(path: Path) -> list[str]:
    """Tests of the file at ``path`` that reach shared_path (themselves or through a fixture of the file)
    without the real_data marker."""
    tree = ast.parse(path.read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    readers = {name for name, function in functions.items() if _calls_shared_data(function)}
    changed = True
    while changed:  # a fixture or test that takes a reader as an argument reads too
        changed = False
        for name, function in functions.items():
            if name not in readers and {a.arg for a in function.args.args} & readers:
                readers.add(name)
                changed = True
    module_marks = _module_marks(tree)
    return [
        f"{path.name}::{name}"
        for name in sorted(readers)
        if name.startswith("test_") and "real_data" not in _marks(functions[name].decorator_list) | module_marks
    ]


def test_every_test_reading_shared_data_is_marked_real_data():
    unmarked = [name for path in sorted(TESTING.rglob("test_*.py")) for name in unmarked_real_data_tests(path)]
    assert not unmarked, f"add @pytest.mark.real_data to: {unmarked}"


def test_the_marker_check_sees_fixtures_and_module_marks(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def cases():\n    return shared_path('x')\n"
        "def test_direct():\n    shared_path('y')\n"
        "@pytest.mark.real_data\n"
        "def test_marked(cases):\n    pass\n"
        "def test_through_fixture(cases):\n    pass\n"
        "def test_unrelated():\n    pass\n"
    )
    assert unmarked_real_data_tests(sample) == ["test_sample.py::test_direct", "test_sample.py::test_through_fixture"]
    sample.write_text("import pytest\npytestmark = [pytest.mark.real_data]\ndef test_direct():\n    shared_path('y')\n")
    assert unmarked_real_data_tests(sample) == []
