"""What the registration's own MI estimates share: CT samples drawn once, and an MR's voxel frame.

:class:`~CTMRFusionLib.registration.mi_score.MutualInformationScore` (ranking starts) and
:class:`~CTMRFusionLib.registration.mattes_mi.MattesMutualInformation` (the finest level) both draw a fixed set of
CT voxels inside the metric mask and map transformed points into the MR's continuous voxel index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.point_products import map_by_axis


def ct_samples(
    fixed: sitk.Image, fixed_mask: sitk.Image | None, samples: int, seed: int, strategy: str = "random"
) -> tuple[np.ndarray, np.ndarray]:
    """(flat indices into ``fixed``'s array, their centres in LPS mm by axis: 3 × n) of at most ``samples``
    voxels inside ``fixed_mask`` (everywhere without one): "random" (drawn with ``seed``, in array order),
    "regular" (evenly spaced through the mask's voxels) or "none" (every mask voxel)."""
    shape = sitk.GetArrayViewFromImage(fixed).shape
    flat = (
        np.arange(int(np.prod(shape))) if fixed_mask is None else np.flatnonzero(sitk.GetArrayViewFromImage(fixed_mask))
    )
    if strategy != "none" and flat.size > samples:
        if strategy == "regular":
            flat = flat[np.linspace(0, flat.size - 1, samples).astype(np.int64)]
        else:
            flat = np.sort(np.random.default_rng(seed).choice(flat, samples, replace=False))
    index_xyz = np.array(np.unravel_index(flat, shape), dtype=float)[::-1]
    direction = np.array(fixed.GetDirection()).reshape(3, 3)
    scaled = index_xyz * np.array(fixed.GetSpacing())[:, None]
    return flat, map_by_axis(direction, scaled, fixed.GetOrigin())


@dataclass
class VoxelFrame:
    """An image's continuous voxel index of LPS points: ``to_index`` = D^T / spacing (rows x, y, z), the origin
    (mm), the last voxel's index per axis (x, y, z), and an optional boolean mask array (z, y, x)."""

    direction: np.ndarray
    to_index: np.ndarray
    origin: np.ndarray
    upper_index: np.ndarray
    mask: np.ndarray | None

    @classmethod
    def of(cls, image: sitk.Image, mask: sitk.Image | None = None) -> VoxelFrame:
        direction = np.array(image.GetDirection()).reshape(3, 3)
        return cls(
            direction,
            direction.T / np.array(image.GetSpacing())[:, None],
            np.array(image.GetOrigin()),
            np.array(image.GetSize(), dtype=float) - 1.0,
            None if mask is None else sitk.GetArrayFromImage(mask).astype(bool),
        )

    def index_map(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, b): the continuous (x, y, z) voxel index of an LPS point x mapped by the 4x4 ``matrix`` is A x + b."""
        return self.to_index @ matrix[:3, :3], self.to_index @ (matrix[:3, 3] - self.origin)

    def in_buffer(self, index_by_axis, margin: float = 0.0) -> np.ndarray:
        """Whether each continuous index (``index_by_axis``: the x, y and z index arrays) lies within ``margin``
        voxels outside the outer voxel centres (0: on or inside them; 0.5: ITK's buffer)."""
        inside = np.ones(len(index_by_axis[0]), bool)
        for values, upper in zip(index_by_axis, self.upper_index):
            inside &= (values >= -margin) & (values <= upper + margin)
        return inside

    def in_mask(self, index: np.ndarray) -> np.ndarray:
        """Whether the nearest voxel of each (x, y, z) index (inside the image) is in the mask (all, without one)."""
        if self.mask is None:
            return np.ones(len(index), bool)
        nearest = np.clip(np.rint(index).astype(np.int64), 0, self.upper_index.astype(np.int64))
        return self.mask[nearest[:, 2], nearest[:, 1], nearest[:, 0]]
