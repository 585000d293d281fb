"""The shared Harvard CT/MR slice sets as volumes, their known rigid moves, and absolute error against the truth.

Each case's consecutive 256×256 8-bit slices are stacked at 1 × 1 × 5 mm (the held-out stacks' geometry, issue
16). CT and MR are co-registered by construction, so the truth is the identity, or under a known rigid move of
the MR's header, that move. Used by the stack benchmark and the real-data tests alike, so both measure the same
inputs (the benchmark's committed table holds elastix's errors on them).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.datasets.atlas_slices import cases, find_pairs, load_arrays
from CTMRFusionLib.imaging.body_mask import body_mask, mask_points_lps
from support.ground_truth import rigid_matrix

#: The held-out stacks' geometry (issue 16): 1 mm in plane, 5 mm between slices.
STACK_SPACING_MM = (1.0, 1.0, 5.0)
#: Seed of the moves: case ``c``'s moves come from ``MOVE_SEED + c``.
MOVE_SEED = 16
#: The benchmark's per-stack results (both methods' errors), read by the tests for elastix's side.
RESULTS_CSV = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "atlas_stacks.csv"


def stack(slices: np.ndarray) -> sitk.Image:
    """A (n, H, W) slice array as a 1 × 1 × 5 mm volume at the origin, identity direction (LPS)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(slices))
    image.SetSpacing(STACK_SPACING_MM)
    return image


def atlas_stacks(root: Path | None = None) -> dict[str, tuple[sitk.Image, sitk.Image]]:
    """Case number → (CT, MR) stacks from ``root`` (default ../shared/data/harvard_ctmri, and a test that asks
    for it is skipped if it is absent)."""
    if root is None:
        from support.data import shared_path  # imports pytest: only tests come here

        root = shared_path("harvard_ctmri")
    groups = cases(find_pairs(root))
    return {name: tuple(stack(a) for a in load_arrays(groups[name])) for name in sorted(groups, key=int)}


def body_points(ct: sitk.Image, count: int = 3000) -> np.ndarray:
    """CT body points (LPS mm) where the error is measured."""
    return mask_points_lps(body_mask(ct), count)


def moves(case: str, points: np.ndarray, count: int) -> list[np.ndarray]:
    """The identity, then ``count`` seeded rigid moves (±30° per axis, ±40 mm) about the body centroid."""
    rng = np.random.default_rng(MOVE_SEED + int(case))
    centre = points.mean(axis=0)
    return [np.eye(4)] + [rigid_matrix(rng.uniform(-30, 30, 3), rng.uniform(-40, 40, 3), centre) for _ in range(count)]


def within_bar(mean_mm: float, max_mm: float, elastix_mean_mm: float) -> bool:
    """Issue 16's bar: within 2.5 mm mean and 5 mm max of the truth, or no worse than elastix + 0.25 mm."""
    return (mean_mm <= 2.5 and max_mm <= 5.0) or mean_mm <= elastix_mean_mm + 0.25


def errors(matrix: np.ndarray, truth: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance (mm) between where a CT→MR matrix and the truth send each CT point."""
    homogeneous = np.c_[points, np.ones(len(points))]
    return np.linalg.norm((homogeneous @ matrix.T - homogeneous @ truth.T)[:, :3], axis=1)


def recorded_results() -> dict[tuple[str, int], dict[str, float]]:
    """(case, move) → the benchmark's recorded numbers ("<method> mean mm", ...), from :data:`RESULTS_CSV`."""
    with RESULTS_CSV.open() as handle:
        return {
            (row["case"], int(row["move"])): {k: float(v) for k, v in row.items() if k not in ("case", "move")}
            for row in csv.DictReader(handle)
        }
