"""Pre-aligned CT/MR volume pairs for training and testing the deep registration (issue 5).

- Harvard Whole Brain Atlas cases (``shared/data/harvard_ctmri``): each case's consecutive 256×256 slices
  stack into a coarse 3D volume; CT and MR are co-registered by construction. The atlas gives no voxel size;
  we take :data:`HARVARD_SPACING_MM` (0.9 mm in plane: a 230 mm field of view, which puts the adult head at
  its usual ~150 × 180 mm; 6 mm between slices: ~17 slices from the orbits to the vertex). Rows run anterior →
  posterior, columns right → left (radiological view), slices inferior → superior: LPS direction
  diag(1, 1, −1).
- Any CT/MR pair with a known CT→MR transform (the MRI-DIR phantom aligned by our own registration): the MR is
  resampled onto the CT grid through it.

A pair keeps both images on the network's [0, 1] intensity scale (:func:`network_grid.unit_intensities`) and
the CT body centroid (LPS mm), about which training moves are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.datasets.atlas_slices import SlicePair, cases, find_pairs, load_arrays
from CTMRFusionLib.deep_registration.grid import unit_intensities
from CTMRFusionLib.imaging.body_mask import body_mask, mask_centroid_lps

#: Assumed voxel size of the Harvard slice stacks (x, y in plane; z between slices), mm.
HARVARD_SPACING_MM = (0.9, 0.9, 6.0)
HARVARD_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


@dataclass
class AlignedPair:
    """CT and MR on one grid, aligned, intensities in [0, 1]; ``center``: CT body centroid (LPS mm)."""

    name: str
    ct: sitk.Image
    mr: sitk.Image
    center: np.ndarray


def stack_volume(slices: np.ndarray) -> sitk.Image:
    """(n, H, W) uint8 slices → a 3D image with the assumed Harvard geometry (origin 0)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(slices))
    image.SetSpacing(HARVARD_SPACING_MM)
    image.SetDirection(HARVARD_DIRECTION)
    return image


def harvard_pair(name: str, pairs: list[SlicePair]) -> AlignedPair:
    ct_slices, mr_slices = load_arrays(pairs)
    ct, mr = stack_volume(ct_slices), stack_volume(mr_slices)
    return AlignedPair(name, unit_intensities(ct, "ct"), unit_intensities(mr, "mr"), mask_centroid_lps(body_mask(ct)))


def harvard_pairs(root, names=None) -> dict[str, AlignedPair]:
    """Aligned volume pairs of the Harvard cases under ``root`` (all, or those in ``names``), keyed by case."""
    grouped = cases(find_pairs(root))
    wanted = grouped if names is None else [str(n) for n in names]
    return {name: harvard_pair(name, grouped[name]) for name in wanted}


def transformed_pair(name: str, ct: sitk.Image, mr: sitk.Image, ct_to_mr: sitk.Transform) -> AlignedPair:
    """A CT (HU) and MR pair made aligned by resampling the MR onto the CT grid through ``ct_to_mr``
    (CT LPS points → MR LPS points, e.g. a registration result)."""
    mr_unit = unit_intensities(mr, "mr")
    mr_on_ct = sitk.Resample(mr_unit, ct, ct_to_mr, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return AlignedPair(name, unit_intensities(ct, "ct"), mr_on_ct, mask_centroid_lps(body_mask(ct)))
