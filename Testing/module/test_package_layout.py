"""The package's tree is its architecture: what the extension build installs, sizes, imports, test mirror."""

import ast
import os
import re
import subprocess
import sys
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
    "dicom",
    "fusion",
    "imaging",
    "io",
    "ml",
    "mrml",
    "registration",
}
#: What Slicer runs: the module file, and the subcommands its worker starts.
SLICER_ROOTS = ("CTMRFusion.py", "CTMRFusionLib/cli/register.py", "CTMRFusionLib/cli/fuse.py")
#: The command line's entry points (they import the subcommands that are installed).
ENTRY_POINTS = {"CTMRFusionLib/cli/__main__.py", "CTMRFusionLib/cli/main.py"}
#: The networks the panel runs, their cards and the registry; not the fusion teacher (training only).
SHIPPED_MODELS = {"models.json", "fusion_unet.pt", "fusion_unet.md", "registration_net.pt", "registration_net.md"}


def _module_file(name: str) -> Path | None:
    stem = MODULE_DIR / name.replace(".", "/")
    for candidate in (stem.with_name(stem.name + ".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _project_imports(path: Path) -> set[str]:
    """Every CTMRFusionLib module ``path`` imports, at its top or inside a function, and the packages above."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    prefixes = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)}
    return {n for n in prefixes if n.startswith("CTMRFusionLib")}


def slicer_file_set() -> set[str]:
    """The library files Slicer needs: everything the roots import, transitively, plus the entry points."""
    todo, seen = [MODULE_DIR / root for root in SLICER_ROOTS], set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += [f for f in map(_module_file, _project_imports(path)) if f is not None and f not in seen]
    return {path.relative_to(MODULE_DIR).as_posix() for path in seen} - {"CTMRFusion.py"} | ENTRY_POINTS


def _cmake_listed() -> set[str]:
    return set(re.findall(r"^\s*(CTMRFusionLib/\S+)$", (MODULE_DIR / "CMakeLists.txt").read_text(), re.M))


def test_extension_ships_what_slicer_runs_and_nothing_else():
    """Slicer's build copies only what CMakeLists.txt lists: the import closure of the panel and of the worker's
    `register` and `fuse` commands (lazy imports included), and the presets. No training code, batch engine,
    snapshot or demo."""
    presets = {
        f"CTMRFusionLib/registration/presets/{path.name}"
        for path in (LIBRARY / "registration" / "presets").glob("*.json")
    }
    listed, expected = _cmake_listed(), slicer_file_set() | presets
    assert listed == expected, f"missing: {sorted(expected - listed)}; not needed: {sorted(listed - expected)}"
    for left_out in ("batch/", "datasets/", "training", "cli/batch.py", "cli/demo.py", "cli/snapshot.py"):
        assert not [name for name in listed if left_out in name], left_out


def test_the_installed_file_set_imports_without_torch_and_dask(tmp_path):
    """The listed files alone, with torch and dask unimportable (Slicer has neither until the PyTorch extension
    installs torch): every module imports, and the worker's command line offers register and fuse."""
    for relative in _cmake_listed() | {"CTMRFusion.py"}:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((MODULE_DIR / relative).read_bytes())
    modules = sorted(f[:-3].replace("/", ".").removesuffix(".__init__") for f in _cmake_listed() if f.endswith(".py"))
    modules.remove("CTMRFusionLib.cli.__main__")  # it runs the command line
    script = f"""
import importlib, importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "dask", "distributed"):
            raise ImportError(name + " is not installed in Slicer")
sys.meta_path.insert(0, Refuse())
for name in {modules!r}:
    importlib.import_module(name)
import CTMRFusionLib
assert CTMRFusionLib.__file__.startswith({str(tmp_path)!r}), CTMRFusionLib.__file__
from CTMRFusionLib.cli.main import installed_commands
print(sorted(installed_commands()))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "['fuse', 'register']"


def test_models_and_sample_data_reach_the_install_and_the_build_tree_but_not_the_teacher():
    """slicerMacroBuildScriptedModule puts the module in ${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR};
    resources.resource_path looks in Resources/ beside the library: the self-test under the Extensions Index's
    ctest (before installation) needs the sample data and the models copied there at configure time."""
    top = (ROOT / "CMakeLists.txt").read_text()
    model_files = re.search(r"set\(CTMRFUSION_MODEL_FILES([^)]*)\)", top, re.S).group(1).split()
    assert {Path(f).name for f in model_files} == SHIPPED_MODELS
    assert all((ROOT / "Resources" / "Models" / name).is_file() for name in SHIPPED_MODELS)
    copies = " ".join(re.findall(r"file\(COPY([^)]*)\)", top, re.S))
    installs = " ".join(re.findall(r"install\(([^)]*)\)", top, re.S))
    for block in (copies, installs):
        assert "Resources/SampleData" in block and "${CTMRFUSION_MODEL_FILES}" in block
        whole_folder = re.search(r"SOURCE_DIR\}/Resources/Models\s", block + " ")
        assert not whole_folder, "the whole Models folder would ship the teacher"
    assert "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}/Resources" in copies


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
    # Not sub-packages: helpers, benchmarks, the Slicer module itself, and the README and docs/ pages' code blocks.
    helpers = {"support", "benchmarks", "module", "docs"}
    assert folders - helpers <= SUBPACKAGES, (
        f"test folders that name no sub-package: {sorted(folders - helpers - SUBPACKAGES)}"
    )
    assert not list((ROOT / "Testing").glob("test_*.py")), "tests live in the folder of the package they test"
