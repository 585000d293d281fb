"""Running the ``ctmrfusion`` command line as a child process (batch cases, the panel's worker jobs): the argv,
an environment where this package imports, and the one-line reason a failed run gave."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import CTMRFusionLib

#: How the command line starts the one line of an anticipated failure (exit code 2).
ERROR_PREFIX = "ctmrfusion: error: "
#: How it starts the one line that says a result needs review (a registration of low confidence).
WARNING_PREFIX = "ctmrfusion: warning: "
#: ``register --strict``'s exit code for a result of low confidence (its outputs are written).
STRICT_EXIT_CODE = 3


def python_executable() -> str:
    """The interpreter for child commands: Slicer's ``PythonSlicer`` inside the Slicer application (whose own
    executable is Slicer, not Python), else this interpreter."""
    if getattr(sys.modules.get("slicer"), "app", None) is not None:
        return shutil.which("PythonSlicer") or sys.executable
    return sys.executable


def ctmrfusion_command(subcommand: str, arguments: list[str]) -> list[str]:
    """The argv that runs ``ctmrfusion SUBCOMMAND ARGUMENTS`` with this package."""
    return [python_executable(), "-m", "CTMRFusionLib.cli", subcommand, *arguments]


def command_environment(threads: int | None = None) -> dict:
    """This process's environment with this package importable, and with ``threads`` (if given) for ITK,
    OpenMP/torch and BLAS."""
    environment = dict(os.environ)
    package_root = str(Path(CTMRFusionLib.__file__).resolve().parents[1])
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    if threads is not None:
        for name in (
            "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
        ):
            environment[name] = str(max(1, int(threads)))
    return environment


def last_error(lines, default: str) -> str:
    """The reason a run gave: its last ``ctmrfusion: error:`` line without the prefix, else its last non-empty
    line, else ``default``."""
    lines = [line.strip() for line in lines if line.strip()]
    errors = [line.removeprefix(ERROR_PREFIX) for line in lines if line.startswith(ERROR_PREFIX.strip())]
    return (errors or lines or [default])[-1]
