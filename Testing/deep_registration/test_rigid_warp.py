"""The differentiable rigid warp (torch) against SimpleITK's linear Resample: physical space, oblique grids."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch", reason="torch is not installed")

from CTMRFusionLib.deep_registration.warp import Grid, euler_matrix, warp_rigid


def _oblique_grid(reference: sitk.Image, angles, spacing, size, shift) -> sitk.Image:
    """An empty image of the given size/spacing, rotated by ``angles`` and centred near ``reference``."""
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(*angles)
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetDirection(rotation.GetMatrix())
    centre = np.array(reference.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in reference.GetSize()]))
    half = np.array(rotation.GetMatrix()).reshape(3, 3) @ (np.array(spacing) * (np.array(size) - 1) / 2)
    grid.SetOrigin(tuple(centre - half + np.array(shift)))
    return grid


def test_euler_matrix_matches_itk():
    angles = (0.3, -0.7, 1.1)
    euler = sitk.Euler3DTransform()
    euler.SetRotation(*angles)
    np.testing.assert_allclose(
        euler_matrix(torch.tensor(angles, dtype=torch.float64)).numpy(),
        np.array(euler.GetMatrix()).reshape(3, 3),
        atol=1e-12,
    )


def test_warp_matches_simpleitk_resample_on_oblique_grids(demo_images):
    """The bundled MR (real data, its own direction) onto a rotated, anisotropic fixed grid."""
    _, mr = demo_images
    moving = sitk.Cast(sitk.Shrink(mr, [3, 3, 2]), sitk.sitkFloat32)
    fixed = _oblique_grid(moving, (0.2, -0.15, 0.4), (2.1, 1.7, 2.9), (40, 36, 30), (5.0, -3.0, 4.0))
    transform = sitk.Euler3DTransform()
    transform.SetCenter((3.0, -12.0, 20.0))
    transform.SetRotation(0.25, -0.4, 0.6)
    transform.SetTranslation((8.0, -5.0, 11.0))
    expected = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32))

    warped = warp_rigid(
        torch.from_numpy(sitk.GetArrayFromImage(moving).astype(np.float64)),
        Grid.of(moving),
        Grid.of(fixed),
        torch.tensor(
            transform.GetAngles() if hasattr(transform, "GetAngles") else (0.25, -0.4, 0.6), dtype=torch.float64
        ),
        torch.tensor((8.0, -5.0, 11.0), dtype=torch.float64),
        transform.GetCenter(),
    ).numpy()
    assert expected.shape == warped.shape
    assert (expected != 0).mean() > 0.3  # the transform keeps much of the MR in view
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(warped, expected, atol=1e-6 * scale)


@pytest.mark.slow
def test_gradients_match_finite_differences_and_descent_recovers_a_shift(demo_images):
    """Loss = mean squared difference to the unmoved MR: its gradient w.r.t. translation and angles equals
    central finite differences, and plain gradient descent from a 3 mm / 0.05 rad offset returns near 0."""
    _, mr = demo_images
    moving = sitk.Cast(sitk.Shrink(mr, [4, 4, 2]), sitk.sitkFloat32)
    array = torch.from_numpy(sitk.GetArrayFromImage(moving).astype(np.float64))
    array = array / array.max()
    grid = Grid.of(moving)
    centre = moving.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in moving.GetSize()])
    zero = torch.zeros(3, dtype=torch.float64)
    target = warp_rigid(array, grid, grid, zero, zero, centre)

    def loss(angles, translation):
        return ((warp_rigid(array, grid, grid, angles, translation, centre) - target) ** 2).mean()

    angles = torch.tensor([0.0123, 0.05, -0.0311], dtype=torch.float64, requires_grad=True)
    translation = torch.tensor([3.1234, 0.377, -1.219], dtype=torch.float64, requires_grad=True)
    value = loss(angles, translation)
    value.backward()
    for parameter, step in ((translation, 1e-4), (angles, 1e-6)):
        for axis in range(3):
            delta = torch.zeros(3, dtype=torch.float64)
            delta[axis] = step
            with torch.no_grad():
                if parameter is translation:
                    numeric = (loss(angles, translation + delta) - loss(angles, translation - delta)) / (2 * step)
                else:
                    numeric = (loss(angles + delta, translation) - loss(angles - delta, translation)) / (2 * step)
            assert float(parameter.grad[axis]) == pytest.approx(float(numeric), rel=1e-3, abs=1e-9)

    optimizer = torch.optim.Adam([angles, translation], lr=0.05)
    for _ in range(150):
        optimizer.zero_grad()
        loss(angles, translation).backward()
        optimizer.step()
    assert float(translation.detach().norm()) < 0.5 and float(angles.detach().abs().max()) < 0.01
