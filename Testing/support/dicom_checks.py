"""Checking DICOM outputs with tools that are not the project's: dicom3tools' IOD verifier and pydicom.

Outputs are found by SOP Class UID, never by file name, as a PACS or a planning system finds them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

SPATIAL_REGISTRATION = "1.2.840.10008.5.1.4.1.1.66.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def by_sop_class(folder) -> dict[str, list[tuple[Path, pydicom.Dataset]]]:
    """Every DICOM file under ``folder`` (read whole by pydicom), grouped by SOP Class UID."""
    found = defaultdict(list)
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            dataset = pydicom.dcmread(path)
            found[str(dataset.SOPClassUID)].append((path, dataset))
    return dict(found)


def dciodvfy_errors(path) -> list[str]:
    """The ``Error`` lines dciodvfy (the IOD verifier of dicom3tools) prints for ``path``; skip without it."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
