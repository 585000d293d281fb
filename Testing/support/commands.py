"""Running the ``ctmrfusion`` command line as a user would: a separate process, exit code and output."""

from __future__ import annotations

import subprocess
import sys


def ctmrfusion(*args, cwd=None) -> subprocess.CompletedProcess:
    """``ctmrfusion ARGS`` in a child process of this interpreter; text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "CTMRFusionLib.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
