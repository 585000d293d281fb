"""Training samples for the deep registration: random rigid moves of pre-aligned pairs, with augmentation.

Each :class:`~CTMRFusionLib.datasets.registration_pairs.AlignedPair` is resampled once onto a large "source"
cube (1.25 × the network grid: 50³ × 8 mm = 400 mm, LPS-aligned, centred on the CT body centroid) with its
feature channels. A sample then:

1. jitters the network grid centre c by up to ±``center_jitter_mm`` per axis (inference centres it on the
   CT body centroid, which moves a little with the field of view);
2. draws a rigid move T about c (fixed → moving points): angles uniform in ±``max_angle_deg`` and
   translations uniform in ±``max_translation_mm`` per axis;
3. warps the source cubes onto the grid (torch, :func:`rigid_warp.warp_with_matrix`): the CT and MR as they
   are (aligned), and both moved by T — ``ct_moved(p) = CT(T p)``, ``mr_moved(p) = MR(T p)``;
4. builds the network input (CT features, moved-MR features) and augments only that input: gamma
   (0.7–1.4) and contrast (0.8–1.2) per modality, Gaussian noise (σ up to 0.03), and with probability 0.3 a
   cut field of view (the MR beyond a random plane along one axis set to 0).

The target of the network is P = T⁻¹ (about c); the intra-modality loss needs the un-augmented intensity
volumes, the direct supervision the parameters of T⁻¹.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch

from CTMRFusionLib.core.frames import matrix_to_sitk_euler
from CTMRFusionLib.datasets.registration_pairs import AlignedPair
from CTMRFusionLib.deep_registration.grid import NetworkGrid, feature_channels, resample_to_grid
from CTMRFusionLib.deep_registration.warp import Grid, euler_matrix, inverse_rigid, warp_with_matrix

SOURCE_MARGIN = 1.25


@dataclass
class SourceCube:
    """A pair's CT and MR feature channels on its source cube (torch, (C, D, H, W)) and the cube's grid."""

    name: str
    ct: torch.Tensor
    mr: torch.Tensor
    grid: Grid
    center: np.ndarray


def source_cube(pair: AlignedPair, features=("raw",), grid_size: int = 40, spacing: float = 8.0) -> SourceCube:
    reference = NetworkGrid(tuple(pair.center), int(round(grid_size * SOURCE_MARGIN)), spacing).image()
    ct = feature_channels(resample_to_grid(pair.ct, reference), features)
    mr = feature_channels(resample_to_grid(pair.mr, reference), features)
    return SourceCube(pair.name, torch.from_numpy(ct), torch.from_numpy(mr), Grid.of(reference), pair.center)


@dataclass
class Sample:
    """One moved pair on the network grid. Tensors (C or 1, D, H, W); ``target`` = parameters of T⁻¹
    (angles rad, translation mm, about ``center``); ``move`` = parameters of T."""

    inputs: torch.Tensor
    ct: torch.Tensor
    mr: torch.Tensor
    ct_moved: torch.Tensor
    mr_moved: torch.Tensor
    grid: Grid
    center: np.ndarray
    move: torch.Tensor
    target: torch.Tensor


@dataclass(frozen=True)
class MoveRange:
    max_angle_deg: float = 60.0
    max_translation_mm: float = 60.0
    center_jitter_mm: float = 10.0


def inverse_parameters(move: torch.Tensor, center) -> torch.Tensor:
    """Euler3D parameters (ITK Z-X-Y angles rad, translation mm) of the inverse of ``move`` about ``center``."""
    rotation = euler_matrix(move[:3].double())
    inverse_rotation, inverse_translation = inverse_rigid(rotation, move[3:].double())
    matrix = np.eye(4)
    matrix[:3, :3] = inverse_rotation.numpy()
    matrix[:3, 3] = inverse_translation.numpy() + np.asarray(center) - inverse_rotation.numpy() @ np.asarray(center)
    euler = matrix_to_sitk_euler(matrix, np.asarray(center, float))
    return torch.tensor(euler.GetParameters(), dtype=torch.float32)


def _uniform(generator, low, high, count=1):
    return low + (high - low) * torch.rand(count, generator=generator)


def _augment(channels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    gamma = float(_uniform(generator, 0.7, 1.4))
    contrast = float(_uniform(generator, 0.8, 1.2))
    sigma = float(_uniform(generator, 0.0, 0.03))
    out = channels.clamp(min=0.0) ** gamma * contrast
    return out + sigma * torch.randn(out.shape, generator=generator)


def _cut_field_of_view(channels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    axis = int(torch.randint(1, 4, (1,), generator=generator))
    size = channels.shape[axis]
    cut = int(_uniform(generator, 0.25, 0.75) * size)
    out = channels.clone()
    index = [slice(None)] * 4
    index[axis] = slice(cut, None) if bool(torch.rand(1, generator=generator) < 0.5) else slice(0, cut)
    out[tuple(index)] = 0.0
    return out


def draw_sample(
    cube: SourceCube,
    generator: torch.Generator,
    moves: MoveRange = MoveRange(),
    augment: bool = True,
    grid_size: int = 40,
    scale: float = 1.0,
) -> Sample:
    """A random moved sample of ``cube`` (see the module docstring); ``scale`` (0–1] shrinks the move range
    (the training curriculum)."""
    center = cube.center + _uniform(generator, -moves.center_jitter_mm, moves.center_jitter_mm, 3).double().numpy()
    spacing = cube.grid.spacing[0]
    grid = Grid.of(NetworkGrid(tuple(center), grid_size, spacing).image())
    angle, shift = math.radians(moves.max_angle_deg) * scale, moves.max_translation_mm * scale
    move = torch.cat([_uniform(generator, -angle, angle, 3), _uniform(generator, -shift, shift, 3)])
    identity, zero = torch.eye(3), torch.zeros(3)
    rotation = euler_matrix(move[:3])
    ct = warp_with_matrix(cube.ct, cube.grid, grid, identity, zero, center)
    mr = warp_with_matrix(cube.mr[:1], cube.grid, grid, identity, zero, center)
    ct_moved = warp_with_matrix(cube.ct[:1], cube.grid, grid, rotation, move[3:], center)
    mr_moved = warp_with_matrix(cube.mr, cube.grid, grid, rotation, move[3:], center)
    ct_in, mr_in = ct, mr_moved
    if augment:
        ct_in, mr_in = _augment(ct, generator), _augment(mr_moved, generator)
        if bool(torch.rand(1, generator=generator) < 0.3):
            mr_in = _cut_field_of_view(mr_in, generator)
    return Sample(
        torch.cat([ct_in, mr_in]).float(),
        ct[0],
        mr[0],
        ct_moved[0],
        mr_moved[0],
        grid,
        center,
        move,
        inverse_parameters(move, center),
    )


def body_points(sample: Sample, threshold: float = 0.05, count: int = 2000) -> np.ndarray:
    """Up to ``count`` LPS points (mm) of the CT body on the sample's grid (evenly subsampled)."""
    index = np.argwhere(sample.ct.numpy() > threshold)[:, ::-1]  # (k, j, i) → (i, j, k)
    index = index[:: max(1, len(index) // count)]
    return index @ np.diag(sample.grid.spacing).T + np.asarray(sample.grid.origin)


def displacement_error(parameters, target, center, points: np.ndarray) -> float:
    """Mean distance (mm) between where two Euler3D parameter sets (about ``center``) send ``points``."""

    def apply(values):
        transform = sitk.Euler3DTransform(
            np.asarray(center, float).tolist(), *[float(v) for v in values[:3]], [float(v) for v in values[3:]]
        )
        matrix = np.array(transform.GetMatrix()).reshape(3, 3)
        return (
            points @ matrix.T + np.array(transform.GetTranslation()) + np.asarray(center) - matrix @ np.asarray(center)
        )

    return float(np.linalg.norm(apply(parameters) - apply(target), axis=1).mean())
