"""Benchmark: absolute accuracy on every shared Harvard CT/MR stack, CTMRFusion beside elastix on the same files.

Each case's consecutive 256×256 8-bit slices are stacked at 1 × 1 × 5 mm (as held-out stacks are); CT and MR
are co-registered by construction, so the truth is the identity, and under a known rigid move of the MR's
header (seeded, up to ±30° and ±40 mm about the CT body centroid) it is that move. The error is the mean (and
max) distance over CT body points between where the result and the truth send them (mm). Each method runs in
its own process on the same files (``benchmark_registration.measure``): wall time and peak memory are its own.

Usage (from the repository root; the peers from Testing/benchmarks/requirements.txt):
    PYTHONPATH=Testing python Testing/benchmarks/benchmark_atlas_stacks.py [--moves 5] [--cases 2 20 ...]
       [--methods ctmrfusion elastix] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmark_registration import SHARED_DATA, measure
from CTMRFusionLib.datasets.atlas_slices import cases, find_pairs, load_arrays
from CTMRFusionLib.imaging.body_mask import body_mask, mask_points_lps
from support.ground_truth import move_header, rigid_matrix
from support.report_table import emit_table

#: The held-out stacks' geometry (issue 16): 1 mm in plane, 5 mm between slices.
STACK_SPACING_MM = (1.0, 1.0, 5.0)


def stack(slices: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(slices))
    image.SetSpacing(STACK_SPACING_MM)
    return image


def moves(points: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """The identity, then ``count`` seeded rigid moves (±30° per axis, ±40 mm) about the body centroid."""
    rng = np.random.default_rng(seed)
    centre = points.mean(axis=0)
    return [np.eye(4)] + [rigid_matrix(rng.uniform(-30, 30, 3), rng.uniform(-40, 40, 3), centre) for _ in range(count)]


def errors(matrix: np.ndarray, truth: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.c_[points, np.ones(len(points))]
    return np.linalg.norm((homogeneous @ matrix.T - homogeneous @ truth.T)[:, :3], axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=5, help="seeded random moves per case (besides unmoved)")
    parser.add_argument("--cases", nargs="*", help="case numbers (default: all)")
    parser.add_argument("--methods", nargs="*", default=["ctmrfusion", "elastix"])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    groups = cases(find_pairs(SHARED_DATA / "harvard_ctmri"))
    rows, summary = [], {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases or sorted(groups):
            ct_slices, mr_slices = load_arrays(groups[name])
            ct, mr = stack(ct_slices), stack(mr_slices)
            points = mask_points_lps(body_mask(ct), 3000)
            ct_path = Path(folder) / f"ct_{name}.nrrd"
            sitk.WriteImage(ct, str(ct_path))
            for number, move in enumerate(moves(points, args.moves, args.seed + int(name))):
                mr_path = Path(folder) / f"mr_{name}_{number}.nrrd"
                sitk.WriteImage(move_header(mr, move), str(mr_path))
                row, seconds = [name, str(number)], {}
                for method in args.methods:
                    matrix, seconds[method], memory = measure(method, ct_path, mr_path)
                    error = errors(matrix, move, points)
                    summary[method].append((error.mean(), error.max(), seconds[method]))
                    row += [f"{error.mean():.2f}", f"{error.max():.2f}", f"{seconds[method]:.1f}"]
                if "elastix" in seconds and "ctmrfusion" in seconds:
                    row.append(f"{seconds['ctmrfusion'] / seconds['elastix']:.1f}")
                rows.append(row)
                print(" | ".join(row), flush=True)
    header = ["case", "move"]
    for method in args.methods:
        header += [f"{method} mean mm", f"{method} max mm", f"{method} s"]
    if {"elastix", "ctmrfusion"} <= set(args.methods):
        header.append("time ratio ctmrfusion/elastix")
    for method, values in summary.items():
        means = np.array(values)
        print(
            f"{method}: mean error {means[:, 0].mean():.2f} mm, worst stack {means[:, 1].max():.2f} mm max, "
            f"{(means[:, 0] > 20).sum()} wrong orientations (> 20 mm), {means[:, 2].mean():.1f} s per stack"
        )
    emit_table(header, rows, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
