"""Benchmark: absolute accuracy on every shared Harvard CT/MR stack, CTMRFusion beside elastix on the same files.

Each case's consecutive 256×256 8-bit slices are stacked at 1 × 1 × 5 mm (as held-out stacks are); CT and MR
are co-registered by construction, so the truth is the identity, and under a known rigid move of the MR's
header (seeded, up to ±30° and ±40 mm about the CT body centroid) it is that move. The error is the mean (and
max) distance over CT body points between where the result and the truth send them (mm). Each method runs in
its own process on the same files (``benchmark_registration.measure``): wall time and peak memory are its own.

Usage (from the repository root; the peers from Testing/benchmarks/requirements.txt):
    PYTHONPATH=Testing python Testing/benchmarks/benchmark_atlas_stacks.py [--moves 5] [--cases 2 20 ...]
       [--methods ctmrfusion fast elastix] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmark_registration import SHARED_DATA, measure
from support.atlas_stacks import RESULTS_CSV, atlas_stacks, body_points, errors, moves
from support.ground_truth import move_header
from support.report_table import emit_table

#: Our methods: the default preset, and the fast preset ("fast"); each gets a time ratio to elastix.
OURS = ("ctmrfusion", "fast")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=5, help="seeded random moves per case (besides unmoved)")
    parser.add_argument("--cases", nargs="*", help="case numbers (default: all)")
    parser.add_argument("--methods", nargs="*", default=["ctmrfusion", "fast", "elastix"])
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    parser.add_argument("--csv", default=str(RESULTS_CSV), help="per-stack results for the tests (%(default)s)")
    args = parser.parse_args(argv)
    stacks = atlas_stacks(SHARED_DATA / "harvard_ctmri")
    rows, summary = [], {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases or stacks:
            ct, mr = stacks[name]
            points = body_points(ct)
            ct_path = Path(folder) / f"ct_{name}.nrrd"
            sitk.WriteImage(ct, str(ct_path))
            for number, move in enumerate(moves(name, points, args.moves)):
                mr_path = Path(folder) / f"mr_{name}_{number}.nrrd"
                sitk.WriteImage(move_header(mr, move), str(mr_path))
                row, seconds = [name, str(number)], {}
                for method in args.methods:
                    matrix, seconds[method], memory = measure(method, ct_path, mr_path)
                    error = errors(matrix, move, points)
                    summary[method].append((error.mean(), error.max(), seconds[method], memory))
                    row += [f"{error.mean():.2f}", f"{error.max():.2f}", f"{seconds[method]:.1f}", f"{memory:.0f}"]
                for ours in OURS:
                    if "elastix" in seconds and ours in seconds:
                        row.append(f"{seconds[ours] / seconds['elastix']:.1f}")
                rows.append(row)
                print(" | ".join(row), flush=True)
    header = ["case", "move"]
    for method in args.methods:
        header += [f"{method} mean mm", f"{method} max mm", f"{method} s", f"{method} peak MB"]
    for ours in OURS:
        if {"elastix", ours} <= set(args.methods):
            header.append(f"time ratio {ours}/elastix")
    for method, values in summary.items():
        means = np.array(values)
        print(
            f"{method}: mean error {means[:, 0].mean():.2f} mm, worst stack {means[:, 1].max():.2f} mm max, "
            f"{(means[:, 0] > 20).sum()} wrong orientations (> 20 mm), {means[:, 2].mean():.1f} s per stack, "
            f"peak {means[:, 3].max():.0f} MB"
        )
    emit_table(header, rows, args.markdown)
    if args.csv and not args.cases:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
