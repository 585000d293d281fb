"""What the command line imports before it works: only what every command needs (issue 35's start-up cut).

Every ``ctmrfusion`` process imports each subcommand's module to build its parser; heavy libraries are imported
where they are used: scipy.ndimage by the fusion rules (about 0.2 s), torch by the networks, pydicom and the
HTTP stack by DICOM outputs and DICOMweb inputs, dask by batch. Measured here by module, not by time (timings
belong in benchmarks: docs/benchmarks.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("scipy", "torch", "pydicom", "requests", "dicomweb_client", "dask", "distributed", "vtk", "slicer")


def _imported_after(argv: list[str]) -> list[str]:
    code = f"""
import json, sys
from CTMRFusionLib.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["register", "fuse", "batch", "snapshot", "demo"])
def test_the_parser_of_every_command_imports_no_heavy_library(command):
    assert _imported_after([command, "--help"]) == []


def test_a_registration_that_writes_no_dicom_imports_neither_scipy_nor_pydicom(tmp_path, sample):
    argv = ["register", "--ct", str(sample.ct), "--mr", str(sample.mr), "--transform", str(tmp_path / "t.h5")]
    assert _imported_after([*argv, "--preset", "fast", "--quiet"]) == []
