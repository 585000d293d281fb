"""The package's public API: every listed name resolves, and importing the package stays light."""

import subprocess
import sys

import pytest

import CTMRFusionLib


def test_every_public_name_resolves_to_its_definition():
    for name in CTMRFusionLib.__all__:
        value = getattr(CTMRFusionLib, name)
        assert getattr(value, "__name__", name) == name
    with pytest.raises(AttributeError, match="no attribute 'register'"):
        CTMRFusionLib.register  # noqa: B018


def test_importing_the_package_loads_neither_torch_nor_slicer():
    code = (
        "import sys, CTMRFusionLib; CTMRFusionLib.RegistrationOptions; "
        "print(sorted(m for m in ('torch', 'slicer') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
