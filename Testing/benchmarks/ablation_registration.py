"""Ablations of the deep registration network: loss (intra-modality, direct parameters, both) and the
seed's feature channels (raw, + Sobel, + Canny, + low-pass, + SLIC), same budget for every run.

Each run is ``ctmrfusion train-registration`` with 1500 steps (batch 8, 1 thread, seed 0, validation cases
33 and 37, the MRI-DIR pair among the training cases) into RUNS/<name>; the table gives the network-alone
mean displacement error on the fixed validation moves (start: 74.6 mm). Runs already finished are reused,
so ``--summarise`` after an interrupted session only prints. Feature channels are compared with the
direct loss, whose steps cost a third of the intra-modality ones (the warps of the loss dominate).

Usage (from the repository root):
    PYTHONPATH=Testing python Testing/benchmarks/ablation_registration.py RUNS [--summarise] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
from support.report_table import emit_table

RUNS = [
    ("intra", "raw"),
    ("direct", "raw"),
    ("hybrid", "raw"),
    ("direct", "raw,sobel"),
    ("direct", "raw,canny"),
    ("direct", "raw,lowpass"),
    ("direct", "raw,slic"),
]
PAIR = [
    "mri_dir",
    "Resources/SampleData/mri_dir_porcine/ct_1p5mm.nrrd",
    "Resources/SampleData/mri_dir_porcine/mr_t2_1mm.nrrd",
]


def run_name(loss: str, features: str) -> str:
    return f"ablation_{loss}_{features.replace(',', '_')}"


def train_missing(runs: Path) -> None:
    transform = runs / "mri_dir_ct_to_mr.tfm"
    if not transform.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "CTMRFusionLib.cli",
                "register",
                "--ct",
                PAIR[1],
                "--mr",
                PAIR[2],
                "--transform",
                str(transform),
                "--quiet",
            ],
            cwd=ROOT,
            check=True,
        )
    for loss, features in RUNS:
        folder = runs / run_name(loss, features)
        if (folder / "final.pt").is_file():
            continue
        subprocess.run(
            [
                sys.executable,
                "-m",
                "CTMRFusionLib.cli",
                "train-registration",
                "--data",
                str(ROOT.parent / "shared" / "data" / "harvard_ctmri"),
                "--out",
                str(folder),
                "--pair",
                *PAIR,
                str(transform),
                "--loss",
                loss,
                "--features",
                features,
                "--steps",
                "1500",
                "--validate-every",
                "250",
                "--threads",
                "1",
                "--quiet",
            ]
            + (["--resume"] if (folder / "checkpoint.pt").is_file() else []),
            cwd=ROOT,
            check=True,
        )


def rows(runs: Path) -> list[list[str]]:
    table = []
    for loss, features in RUNS:
        history_path = runs / run_name(loss, features) / "history.json"
        if not history_path.is_file():
            table.append([loss, features, "not run", "", "", "", ""])
            continue
        history = json.loads(history_path.read_text())
        last = history["validations"][-1]
        per_case = last["per_case_mean_error_mm"]
        table.append(
            [
                loss,
                features,
                str(last["step"]),
                f"{last['mean_error_mm']:.1f}",
                f"{last['median_error_mm']:.1f}",
                " / ".join(f"{per_case[c]:.1f}" for c in sorted(per_case)),
                f"{history['train_seconds'] / 60:.0f}",
            ]
        )
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", help="folder for the run folders")
    parser.add_argument("--summarise", action="store_true", help="only print the table of finished runs")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args(argv)
    runs = Path(args.runs).resolve()
    if not args.summarise:
        train_missing(runs)
    emit_table(
        ["loss", "features", "steps", "mean error (mm)", "median (mm)", "case 33 / 37 (mm)", "train (min)"],
        rows(runs),
        args.markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
