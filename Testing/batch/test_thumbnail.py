"""The blend thumbnail: planes in true physical proportions, CT purple and MR green where each has signal."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.batch.thumbnail import GAP_PIXELS, PLANE_PIXELS, blend_planes, display_grid
from support.atlas_stacks import atlas_stacks

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def stack():
    return atlas_stacks()["2"]


def test_the_display_grid_spans_the_volume_with_square_pixels(stack):
    ct, _ = stack  # 256 × 256 × 19 voxels of 1 × 1 × 5 mm: 256 × 256 × 95 mm
    grid = display_grid(ct)
    step = grid.GetSpacing()[0]
    assert grid.GetSpacing() == (step, step, step)
    extent = np.array(grid.GetSize()) * step
    np.testing.assert_allclose(extent, [256, 256, 95], atol=step)
    assert max(grid.GetSize()) == PLANE_PIXELS


def test_planes_show_true_proportions_and_both_colours(stack):
    ct, mr = stack
    rgb = blend_planes(ct, mr)
    grid = display_grid(ct)
    nx, ny, nz = grid.GetSize()
    assert rgb.shape == (max(ny, nz), nx + nx + ny + 2 * GAP_PIXELS, 3)
    axial = rgb[:ny, :nx].astype(int)
    purple = (axial[..., 0] > axial[..., 1] + 30) & (axial[..., 2] > axial[..., 1] + 30)
    green = (axial[..., 1] > axial[..., 0] + 30) & (axial[..., 1] > axial[..., 2] + 30)
    assert purple.sum() > 200 and green.sum() > 200  # the skull (CT) and the brain (MR)
    assert not rgb[ny:, :nx].any()  # below the (shorter) axial plane: padding only


def test_an_oblique_ct_keeps_its_extent(stack):
    """A rotated header: the grid is axis-aligned in LPS and spans the rotated volume's corners."""
    ct, _ = stack
    rotated = sitk.Image(ct)
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    rotated.SetDirection(rotation.ravel().tolist())
    extent = np.array(display_grid(rotated).GetSize()) * display_grid(rotated).GetSpacing()[0]
    expected = 256 * (np.cos(angle) + np.sin(angle))
    np.testing.assert_allclose(extent[:2], [expected, expected], rtol=0.02)
