"""Shared fixtures: a real MRML scene (slicer-core), the bundled sample pair, the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

# ITK sums the registration metric over threads, so numbers from registrations that stop early can shift
# with the thread count (docs/registration.md, Reproducibility). Two threads, in this process and in the
# command-line runs it starts, make CI measure what a 2-core development machine measures. Set the
# variable yourself to override.
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import SimpleITK as sitk  # noqa: E402

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"]))

from CTMRFusionLib.sample_data import demo_pair

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_path(*parts) -> Path:
    """A path under ../shared/data, or skip the test with a clear reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (needs ../shared/data beside the checkout)")
    return path


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


def oblique_image(pixel_type=sitk.sitkInt16, seed=0) -> sitk.Image:
    """Random test volume with anisotropic spacing and an oblique direction, of the given pixel type."""
    rng = np.random.default_rng(seed)
    dtype = sitk.GetArrayViewFromImage(sitk.Image([1, 1, 1], pixel_type)).dtype
    array = (rng.normal(100, 40, size=(7, 9, 11))).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 1.1, 2.5))
    image.SetOrigin((12.5, -40.25, 7.0))
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(0.3, -0.2, 0.5)
    image.SetDirection(rotation.GetMatrix())
    return image


# Slicer's views render offscreen through EGL: no display is needed.
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
