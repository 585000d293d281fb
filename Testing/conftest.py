"""Shared fixtures: a real MRML scene (slicer-core), the bundled sample pair, the shared real data.

Tests that read ``../shared/data`` are marked ``real_data`` (``support.data.shared_path`` skips them with a
message when it is absent); tests that take more than a few seconds on 2 cores are marked ``slow``.
"""

from __future__ import annotations

import os
import subprocess
import sys

# ITK sums the registration metric over threads, so numbers from registrations that stop early can shift
# with the thread count (docs/registration.md, Reproducibility). Two threads, in this process and in the
# command-line runs it starts, make CI measure what a 2-core development machine measures. Set the
# variable yourself to override.
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "2")
# Slicer's views render offscreen through EGL: no display is needed.
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.sample_data import demo_pair

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"]))


@pytest.fixture
def scene():
    import slicer

    return slicer.vtkMRMLScene()


@pytest.fixture(scope="session")
def sample():
    return demo_pair()


@pytest.fixture(scope="session")
def demo_images(sample):
    return sitk.ReadImage(str(sample.ct)), sitk.ReadImage(str(sample.mr))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``ctmrfusion demo`` run once per session, as a user runs it (a child process, progress on stderr): the
    default registration of the sample pair through the register command's own arguments (``mr_to_ct.h5``,
    ``mr_on_ct.nrrd``, ``registration_report.json`` with landmark TRE), the fused volumes, the montage and the
    snapshots. (completed process, output folder)."""
    out = tmp_path_factory.mktemp("demo")
    run = subprocess.run(
        [sys.executable, "-m", "CTMRFusionLib.cli", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return run, out


@pytest.fixture(scope="session")
def dicom_pair(tmp_path_factory, demo_images):
    """The bundled pair as two DICOM series, the way two scanners write them: CT feet-first, MR head-first, each
    in its own study and frame of reference, one patient. (folder with ct/ and mr/, CT UIDs, MR UIDs)."""
    from support.dicom_writer import write_series

    folder = tmp_path_factory.mktemp("dicom_pair")
    ct_image, mr_image = demo_images
    ct = write_series(ct_image, folder / "ct", "CT", description="planning CT", patient_position="FFS")
    mr = write_series(mr_image, folder / "mr", "MR", description="T2 TSE", patient_position="HFS")
    return folder, ct, mr
