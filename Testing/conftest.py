"""Shared fixtures: a real MRML scene (slicer-core), the bundled sample pair, the shared real data."""

from __future__ import annotations

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


def rigid_matrix(angles_deg, translation_mm, center_lps=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 LPS matrix of a rotation (degrees about x, y, z, applied in ITK's Euler3D order) about a centre."""
    euler = sitk.Euler3DTransform()
    euler.SetCenter([float(c) for c in center_lps])
    euler.SetRotation(*np.deg2rad(angles_deg))
    euler.SetTranslation([float(t) for t in translation_mm])
    matrix = np.eye(4)
    matrix[:3, :3] = np.array(euler.GetMatrix()).reshape(3, 3)
    matrix[:3, 3] = np.array(euler.TransformPoint((0.0, 0.0, 0.0)))
    return matrix


def move_header(image: sitk.Image, matrix_lps: np.ndarray) -> sitk.Image:
    """The same voxels, physically moved by a rigid 4x4 LPS matrix (origin and direction edited, no resampling)."""
    moved = sitk.Image(image)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    moved.SetDirection((matrix_lps[:3, :3] @ direction).ravel().tolist())
    moved.SetOrigin((matrix_lps[:3, :3] @ np.array(image.GetOrigin()) + matrix_lps[:3, 3]).tolist())
    return moved


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
