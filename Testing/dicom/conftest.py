"""One ``register --dicom-out`` run on the bundled pair as DICOM series (``dicom_pair``, Testing/conftest.py), as
a user runs it, shared by the DICOM tests."""

from __future__ import annotations

import hashlib
import json

import pytest

from support.commands import ctmrfusion
from support.dicom_checks import by_sop_class


def _hashes(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="session")
def exported(dicom_pair, sample):
    folder, ct, mr = dicom_pair
    before = {"ct": _hashes(folder / "ct"), "mr": _hashes(folder / "mr")}
    out = folder / "run"
    run = ctmrfusion(
        "register",
        "--ct", folder / "ct", "--mr", folder / "mr",
        "--transform", out / "mr_to_ct.h5", "--volume", out / "mr_on_ct.nrrd", "--report", out / "report.json",
        "--dicom-out", out / "dicom",
        "--ct-landmarks", sample.ct_landmarks, "--mr-landmarks", sample.mr_landmarks,
        "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    after = {"ct": _hashes(folder / "ct"), "mr": _hashes(folder / "mr")}
    return {
        "out": out,
        "ct": ct,
        "mr": mr,
        "report": report,
        "found": by_sop_class(out / "dicom"),
        "unchanged": before == after,
    }
