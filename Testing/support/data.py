"""Where the real data lives (``../shared/data`` beside the checkout) and small synthetic geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_path(*parts) -> Path:
    """A path under ../shared/data, or skip the test with a clear reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (needs ../shared/data beside the checkout)")
    return path


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
