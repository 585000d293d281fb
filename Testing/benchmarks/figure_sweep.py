"""Figure for docs/benchmarks.md: every run of the sweep (issue 33), CTMRFusion beside elastix, case by case.

Reads the committed ``Testing/benchmarks/results/sweep.csv`` (no registration is run): each run's mean error
against the truth (log scale), ours and elastix's, with issue 16's 2.5 mm bar and the 20 mm line of a wrong
orientation; our runs outside the bar are ringed.

Usage (from the repository root, in the benchmark environment, which has matplotlib):
    .venv-benchmark/bin/python Testing/benchmarks/figure_sweep.py docs/images/sweep_errors.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the headless backend is chosen
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.csv"
BAR_MM, WRONG_ORIENTATION_MM = 2.5, 20.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="PNG to write")
    args = parser.parse_args(argv)
    with RESULTS.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    cases = list(dict.fromkeys(row["case"] for row in rows))
    jitter = np.random.default_rng(0)
    figure, axes = plt.subplots(figsize=(14, 5.2), dpi=100)
    for index, case in enumerate(cases):
        runs = [row for row in rows if row["case"] == case]
        ours = np.array([float(row["ours_mean_mm"]) for row in runs])
        peer = np.array([float(row["elastix_mean_mm"]) for row in runs])
        off = np.array([row["ours_within_bar"] == "False" for row in runs])
        x = index + jitter.uniform(-0.18, 0.18, len(runs))
        axes.scatter(x - 0.2, peer, s=12, marker="x", color="tab:orange", label="elastix" if index == 0 else None)
        axes.scatter(x + 0.2, ours, s=12, color="tab:blue", label="CTMRFusion" if index == 0 else None)
        axes.scatter(
            x[off] + 0.2, ours[off], s=60, facecolors="none", edgecolors="tab:red",
            label="CTMRFusion, off the bar (elastix better on that move)" if index == 0 else None,
        )  # fmt: skip
    axes.axhline(BAR_MM, color="tab:green", linestyle="--", linewidth=1, label="2.5 mm (issue 16's bar)")
    axes.axhline(WRONG_ORIENTATION_MM, color="tab:red", linestyle=":", linewidth=1, label="20 mm: wrong orientation")
    axes.set_yscale("log")
    axes.set_ylim(0.4, 1500)  # room above the half turns for the legend
    axes.set_ylabel("mean error against the truth (mm, log scale)")
    axes.set_xticks(range(len(cases)), cases, rotation=60, ha="right", fontsize=8)
    axes.set_xlim(-0.7, len(cases) - 0.3)
    axes.set_title(f"Sweep: {len(rows)} runs, 20 random moves (±30°, ±30 mm) and 3 half turns per case")
    axes.legend(loc="upper left", fontsize=8, ncol=3)
    axes.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
