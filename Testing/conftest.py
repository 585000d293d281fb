"""Shared fixtures: a real MRML scene (slicer-core), the bundled sample pair, the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

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
