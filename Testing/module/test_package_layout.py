"""The package's tree is its architecture: what the extension build installs, sizes, imports, test mirror."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = ROOT / "CTMRFusion"
LIBRARY = MODULE_DIR / "CTMRFusionLib"
SUBPACKAGES = {
    "batch",
    "cli",
    "core",
    "datasets",
    "deep_registration",
    "fusion",
    "imaging",
    "io",
    "ml",
    "mrml",
    "registration",
}


def _library_files(pattern):
    return {
        path.relative_to(MODULE_DIR).as_posix() for path in LIBRARY.rglob(pattern) if "__pycache__" not in path.parts
    }


def test_extension_build_lists_every_library_file_and_resources_the_models_and_sample_data():
    """Slicer's build copies only what CMakeLists.txt lists: a missing entry breaks the installed extension."""
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"^\s*(CTMRFusionLib/\S+)$", cmake, re.M))
    present = _library_files("*.py") | _library_files("*.json")
    assert listed == present, f"not listed: {sorted(present - listed)}; listed but absent: {sorted(listed - present)}"
    top = (ROOT / "CMakeLists.txt").read_text()
    assert "Resources/Models" in top and "Resources/SampleData" in top


def test_models_and_sample_data_reach_the_build_tree_for_ctest():
    """slicerMacroBuildScriptedModule puts the module in ${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR};
    resources.resource_path looks in Resources/ beside the library: the self-test under the Extensions Index's
    ctest (before installation) needs both folders copied there at configure time."""
    top = (ROOT / "CMakeLists.txt").read_text()
    copy = re.search(r"file\(COPY([^)]*)\)", top, re.S)
    assert copy, "no file(COPY ...) of the resources into the build tree"
    assert "Resources/SampleData" in copy.group(1) and "Resources/Models" in copy.group(1)
    assert "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}/Resources" in copy.group(1)


def test_subpackages_are_the_architecture_and_each_says_what_it_holds():
    packages = {path.parent.name for path in LIBRARY.glob("*/__init__.py")}
    assert packages == SUBPACKAGES
    for name in packages:
        docstring = ast.get_docstring(ast.parse((LIBRARY / name / "__init__.py").read_text()))
        assert docstring and len(docstring) > 40, f"{name}/__init__.py needs a docstring saying what it holds"
    loose = {path.name for path in LIBRARY.glob("*.py")}
    assert loose == {"__init__.py", "resources.py"}, f"modules outside the sub-packages: {sorted(loose)}"


def test_no_library_module_is_over_400_lines():
    """The Qt-free package stays in small files; the Slicer module file (panel, logic shell, self-test) is apart."""
    sizes = {
        path.relative_to(MODULE_DIR).as_posix(): len(path.read_text().splitlines()) for path in LIBRARY.rglob("*.py")
    }
    assert max(sizes.values()) <= 400, {name: size for name, size in sizes.items() if size > 400}


def test_nothing_edits_sys_path():
    """Slicer puts the module folder on sys.path itself; the package is installed, not path-hacked."""
    for path in [*MODULE_DIR.rglob("*.py"), *(ROOT / "Testing").rglob("*.py")]:
        assert not re.search(r"sys\.path\.(insert|append)", path.read_text()), path


def test_tests_mirror_the_package():
    folders = {path.name for path in (ROOT / "Testing").iterdir() if path.is_dir() and path.name != "__pycache__"}
    helpers = {"support", "benchmarks", "module"}
    assert folders - helpers <= SUBPACKAGES, (
        f"test folders that name no sub-package: {sorted(folders - helpers - SUBPACKAGES)}"
    )
    assert not list((ROOT / "Testing").glob("test_*.py")), "tests live in the folder of the package they test"
