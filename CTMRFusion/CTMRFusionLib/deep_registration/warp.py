"""Differentiable rigid resampling in physical space (torch), matching SimpleITK's linear ``Resample``.

The building block of the deep registration (issue 5): a moving volume is resampled onto a fixed grid through
an Euler3D transform whose parameters are torch tensors, so a loss on the result can be back-propagated to
them. Conventions are ITK's, all in LPS mm:

- A grid is (origin, spacing, direction, size) as SimpleITK reports it; index (i, j, k) ↔ point
  ``origin + direction @ (spacing * index)``; arrays are (k, j, i) = (D, H, W).
- Euler3D: ``T(p) = R (p − center) + center + translation`` with ``R = Rz · Rx · Ry`` (ITK's default
  Z-X-Y composition); T maps fixed points to moving points, as ``sitk.Resample(moving, fixed, T)`` uses it.
- Linear interpolation; points outside the moving buffer (continuous index beyond [−0.5, size − 0.5])
  get 0, and points in the outer half voxel take the border value, as ITK does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Grid:
    """Image geometry in LPS: origin (mm), spacing (mm), direction (3×3, columns = axes), size (i, j, k)."""

    origin: tuple
    spacing: tuple
    direction: tuple
    size: tuple

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        return cls(image.GetOrigin(), image.GetSpacing(), image.GetDirection(), image.GetSize())

    def index_to_point(self) -> np.ndarray:
        """4×4 matrix mapping homogeneous (i, j, k) index to LPS point."""
        matrix = np.eye(4)
        matrix[:3, :3] = np.array(self.direction, float).reshape(3, 3) @ np.diag(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix


def euler_matrix(angles: torch.Tensor) -> torch.Tensor:
    """ITK Euler3D rotation R = Rz · Rx · Ry for angles (x, y, z) in radians; differentiable."""
    ax, ay, az = angles[0], angles[1], angles[2]
    one, zero = torch.ones_like(ax), torch.zeros_like(ax)
    rx = torch.stack([one, zero, zero, zero, torch.cos(ax), -torch.sin(ax), zero, torch.sin(ax), torch.cos(ax)])
    ry = torch.stack([torch.cos(ay), zero, torch.sin(ay), zero, one, zero, -torch.sin(ay), zero, torch.cos(ay)])
    rz = torch.stack([torch.cos(az), -torch.sin(az), zero, torch.sin(az), torch.cos(az), zero, zero, zero, one])
    return rz.reshape(3, 3) @ rx.reshape(3, 3) @ ry.reshape(3, 3)


def _normalize(size) -> np.ndarray:
    """4×4 matrix from (i, j, k) index to grid_sample's [−1, 1] coordinates (align_corners=True)."""
    matrix = np.eye(4)
    for axis, n in enumerate(size):
        matrix[axis, axis] = 2.0 / max(n - 1, 1)
        matrix[axis, 3] = -1.0
    return matrix


def warp_rigid(
    moving: torch.Tensor, moving_grid: Grid, fixed_grid: Grid, angles: torch.Tensor, translation: torch.Tensor, center
) -> torch.Tensor:
    """Resample ``moving`` (D, H, W) onto ``fixed_grid`` through the Euler3D transform (fixed → moving).

    angles (rad, LPS x/y/z) and translation (mm, LPS) are tensors (gradients flow to them); center: LPS mm.
    Returns a (D, H, W) tensor on the fixed grid.
    """
    return warp_with_matrix(moving, moving_grid, fixed_grid, euler_matrix(angles.to(moving.dtype)), translation, center)


def inverse_rigid(rotation: torch.Tensor, translation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, t) of the inverse of p ↦ R (p − c) + c + t, about the same center c: (Rᵀ, −Rᵀ t)."""
    return rotation.transpose(0, 1), -(rotation.transpose(0, 1) @ translation)


def _sampling_grid(
    moving_grid: Grid, fixed_grid: Grid, rotation: torch.Tensor, translation: torch.Tensor, center, dtype
) -> torch.Tensor:
    """grid_sample coordinates (1, D, H, W, 3) in the moving buffer of every fixed-grid voxel."""
    rotation = rotation.to(dtype)
    to_moving_index = torch.from_numpy(np.linalg.inv(moving_grid.index_to_point())).to(dtype)
    from_fixed_index = torch.from_numpy(fixed_grid.index_to_point()).to(dtype)
    center = torch.as_tensor(np.asarray(center, float), dtype=dtype)
    transform = torch.eye(4, dtype=dtype)
    transform = transform.index_put((torch.arange(3)[:, None], torch.arange(3)[None, :]), rotation)
    offset = center + translation.to(dtype) - rotation @ center
    transform = transform.index_put((torch.arange(3), torch.full((3,), 3)), offset)
    index_map = to_moving_index @ transform @ from_fixed_index  # fixed index → moving index

    theta = (
        torch.from_numpy(_normalize(moving_grid.size)).to(dtype)
        @ index_map
        @ torch.from_numpy(np.linalg.inv(_normalize(fixed_grid.size))).to(dtype)
    )
    depth, height, width = fixed_grid.size[2], fixed_grid.size[1], fixed_grid.size[0]
    return F.affine_grid(theta[None, :3], [1, 1, depth, height, width], align_corners=True)


def _inside(grid: torch.Tensor, moving_grid: Grid) -> torch.Tensor:
    """ITK's inside test: continuous index within [−0.5, size − 0.5] on every axis → (1, D, H, W) of 0/1."""
    half = torch.tensor([1.0 / max(n - 1, 1) for n in moving_grid.size], dtype=grid.dtype)
    return (grid.abs() <= 1.0 + half).all(dim=-1).to(grid.dtype)


def overlap_mask(
    moving_grid: Grid, fixed_grid: Grid, rotation: torch.Tensor, translation: torch.Tensor, center, dtype=torch.float32
) -> torch.Tensor:
    """(D, H, W) 1 where the transform maps the fixed voxel inside the moving buffer, else 0 (no gradient)."""
    with torch.no_grad():
        grid = _sampling_grid(moving_grid, fixed_grid, rotation.detach(), translation.detach(), center, dtype)
        return _inside(grid, moving_grid)[0]


def warp_with_matrix(
    moving: torch.Tensor, moving_grid: Grid, fixed_grid: Grid, rotation: torch.Tensor, translation: torch.Tensor, center
) -> torch.Tensor:
    """:func:`warp_rigid` with the rotation given as a 3×3 matrix (e.g. an inverse).

    ``moving`` is (D, H, W) or (C, D, H, W) (channels warped alike); the result has the same leading shape.
    """
    dtype = moving.dtype
    grid = _sampling_grid(moving_grid, fixed_grid, rotation, translation, center, dtype)
    channels = moving[None] if moving.dim() == 4 else moving[None, None]
    sampled = F.grid_sample(channels, grid, mode="bilinear", padding_mode="border", align_corners=True)

    inside = _inside(grid, moving_grid)
    sampled = sampled[0] * inside
    return sampled if moving.dim() == 4 else sampled[0]
