"""Figure for docs/deep_registration.md: one random start of a held-out Harvard case, the deep initializer's
correction, and the MI result, as CT (purple) / MR (green) overlays on the network grid.

Columns: start | after the network (2 passes) | after MI; rows: axial and coronal middle planes of the
network grid (8 mm voxels).

Usage (from the repository root):
    PYTHONPATH=Testing python Testing/benchmarks/figure_deep_initializer.py OUT.png [--case 37]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.datasets.atlas_slices import cases, find_pairs, load_arrays
from CTMRFusionLib.datasets.registration_pairs import stack_volume
from CTMRFusionLib.deep_registration.grid import NetworkGrid, resample_to_grid, unit_intensities
from CTMRFusionLib.deep_registration.initializer import deep_initial_transform
from CTMRFusionLib.deep_registration.model import load_registration_model
from CTMRFusionLib.fusion.montage import montage
from CTMRFusionLib.imaging.body_mask import body_mask, mask_centroid_lps, mask_points_lps
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.rigid import register_rigid
from support.ground_truth import move_header, rigid_matrix


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def overlay(ct: np.ndarray, mr: np.ndarray) -> np.ndarray:
    """RGB planes: CT in red and blue (purple), MR in green; inputs on [0, 1]."""
    return np.stack([ct, mr, ct], axis=-1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--case", default="37")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    pairs = cases(find_pairs(ROOT.parent / "shared" / "data" / "harvard_ctmri"))[args.case]
    ct_slices, mr_slices = load_arrays(pairs)
    ct, mr = stack_volume(ct_slices), stack_volume(mr_slices)
    center = mask_centroid_lps(body_mask(ct))
    rng = np.random.default_rng(args.seed)
    start = rigid_matrix(rng.uniform(-45, 45, 3), rng.uniform(-40, 40, 3), center)
    moved = move_header(mr, np.linalg.inv(start))  # MR'(x) = MR(start x): identity is the start
    model = load_registration_model(device="cpu")
    deep, _ = deep_initial_transform(ct, moved, sitk.Transform(), center, model, passes=2)
    final = register_rigid(ct, moved, RegistrationOptions(initializer="deep")).transform
    grid = NetworkGrid(tuple(center), 40, 8.0).image()
    ct_grid = sitk.GetArrayFromImage(resample_to_grid(unit_intensities(ct, "ct"), grid))
    mr_unit = unit_intensities(moved, "mr")
    columns = []
    for transform in (sitk.Transform(), deep, final):
        mr_grid = sitk.GetArrayFromImage(resample_to_grid(mr_unit, grid, transform))
        k, j = np.argwhere(ct_grid > 0.1).mean(axis=0)[:2].astype(int)
        columns.append([overlay(ct_grid[k], mr_grid[k]), overlay(np.flipud(ct_grid[:, j]), np.flipud(mr_grid[:, j]))])
    channels = []
    for c in range(3):
        rows = [[np.kron(column[r][..., c], np.ones((4, 4))) * 255 for column in columns] for r in range(2)]
        channels.append(montage(rows))
    image = sitk.GetImageFromArray(np.stack(channels, axis=-1), isVector=True)
    sitk.WriteImage(image, args.out)
    points = mask_points_lps(body_mask(ct), 3000)
    errors = [
        np.linalg.norm(
            apply(sitk_transform_to_matrix(t) if not isinstance(t, np.ndarray) else t, points)
            - apply(np.linalg.inv(start), points),
            axis=1,
        ).mean()
        for t in (np.eye(4), deep, final)
    ]
    print(
        f"wrote {args.out}; mean error over the CT body: start {errors[0]:.1f} mm, after the network "
        f"{errors[1]:.1f} mm, after MI {errors[2]:.1f} mm"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
