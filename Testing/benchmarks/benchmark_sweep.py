"""Sweep benchmark (issue 33): wrong orientations and the confidence verdict under many random moves.

Cases: every shared Harvard stack (1 × 1 × 5 mm, truth: the identity), thin slabs of each (the middle 15 slices,
75 mm, as the held-out slab; and the first 12 slices, 60 mm, harder than asked), stack 2's CT showing the scanner
table's arcs, and the MRI-DIR pair (error: its 14 landmark pairs). Each case is moved by 20 seeded random rigid
moves (±30° about each axis, ±30 mm along each, about the CT body centroid) and by the 180° turns about each axis.
CTMRFusion's default registration (in this process, so its report's confidence verdict is kept) and elastix's
default rigid registration run on the same moved files, in one run.

Per run: the error against the truth (mean and max over CT body points, mm), a wrong orientation (mean > 20 mm),
within issue 16's bar (2.5 mm mean and 5 mm max, or no worse than elastix + 0.25 mm), CTMRFusion's confidence
level and the measures it used. Per case: wrong orientations, runs within the bar, median error, for both
methods; how many off-bar runs were flagged low, and how many good ones.

Usage (from the repository root, in the benchmark environment: `make .venv-benchmark/.installed`):
    PYTHONPATH=Testing .venv-benchmark/bin/python Testing/benchmarks/benchmark_sweep.py \
        --csv Testing/benchmarks/results/sweep.csv --markdown Testing/benchmarks/results/sweep.md [--moves 20]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmark_registration import SHARED_DATA, run_elastix
from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.io.sample_data import demo_pair
from CTMRFusionLib.registration.rigid import register_rigid
from support.atlas_stacks import atlas_stacks, body_points, errors, stack, within_bar
from support.ground_truth import move_header, rigid_matrix

WRONG_ORIENTATION_MM = 20.0
SEED = 33
TURNS = ((180.0, 0.0, 0.0), (0.0, 180.0, 0.0), (0.0, 0.0, 180.0))
COLUMNS = [
    "case", "move", "ours_mean_mm", "ours_max_mm", "ours_seconds", "elastix_mean_mm", "elastix_max_mm",
    "elastix_seconds", "ours_within_bar", "ours_wrong", "elastix_wrong", "level", "reasons",
    "normalized_mi", "ct_in_mr", "mr_in_ct", "alternative_gap",
]  # fmt: skip


def stack_cases() -> dict:
    """Case name → (CT, MR, error function of a CT→MR matrix and the true move)."""
    found = {}
    for name, (ct, mr) in atlas_stacks(SHARED_DATA / "harvard_ctmri").items():
        ct_slices, mr_slices = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(mr)
        middle = (len(ct_slices) - 15) // 2
        for label, part in ((f"stack {name}", slice(None)), (f"slab15 {name}", slice(middle, middle + 15)),
                            (f"slab12 {name}", slice(0, 12))):  # fmt: skip
            ct_part, mr_part = stack(ct_slices[part]), stack(mr_slices[part])
            points = body_points(ct_part)
            found[label] = (ct_part, mr_part, points, lambda m, move, p=points: errors(m, move, p))
    return found


def demo_case():
    pair = demo_pair()
    ct, mr = sitk.ReadImage(str(pair.ct)), sitk.ReadImage(str(pair.mr))
    ct_points = read_landmarks(pair.ct_landmarks).points_lps
    mr_points = read_landmarks(pair.mr_landmarks).points_lps

    def landmark_errors(matrix, move):
        mapped = ct_points @ matrix[:3, :3].T + matrix[:3, 3]
        truth = mr_points @ move[:3, :3].T + move[:3, 3]
        return np.linalg.norm(mapped - truth, axis=1)

    return ct, mr, body_points(ct), landmark_errors


def moves(points: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = points.mean(axis=0)
    random = [rigid_matrix(rng.uniform(-30, 30, 3), rng.uniform(-30, 30, 3), centre) for _ in range(count)]
    return random + [rigid_matrix(turn, (0.0, 0.0, 0.0), centre) for turn in TURNS]


def run_case(name, ct, mr, points, error_of, count, seed, folder) -> list[dict]:
    rows = []
    ct_path = Path(folder) / "ct.nrrd"
    sitk.WriteImage(ct, str(ct_path))
    for number, move in enumerate(moves(points, count, seed)):
        moved = move_header(mr, move)
        mr_path = Path(folder) / "mr.nrrd"
        sitk.WriteImage(moved, str(mr_path))
        tick = time.perf_counter()
        result = register_rigid(ct, moved)
        ours_seconds = time.perf_counter() - tick
        ours = error_of(sitk_transform_to_matrix(result.transform), move)
        tick = time.perf_counter()
        peer = error_of(run_elastix(ct_path, mr_path, folder), move)
        elastix_seconds = time.perf_counter() - tick
        confidence = result.confidence.to_dict()
        rows.append({
            "case": name, "move": number,
            "ours_mean_mm": float(ours.mean()), "ours_max_mm": float(ours.max()), "ours_seconds": ours_seconds,
            "elastix_mean_mm": float(peer.mean()), "elastix_max_mm": float(peer.max()),
            "elastix_seconds": elastix_seconds,
            "ours_within_bar": bool(within_bar(ours.mean(), ours.max(), peer.mean())),
            "ours_wrong": bool(ours.mean() > WRONG_ORIENTATION_MM),
            "elastix_wrong": bool(peer.mean() > WRONG_ORIENTATION_MM),
            "level": confidence["level"], "reasons": " | ".join(confidence["reasons"]),
            **{key: confidence.get(key) for key in ("normalized_mi", "ct_in_mr", "mr_in_ct", "alternative_gap")},
        })  # fmt: skip
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()}), flush=True)
    return rows


def summary(rows: list[dict]) -> list[str]:
    lines = [
        "| case | runs | wrong orientations (ours / elastix) | within the bar (ours / elastix) | median error mm "
        "(ours / elastix) | off-bar runs flagged low | good runs flagged low |",
        "|---|---|---|---|---|---|---|",
    ]
    cases = list(dict.fromkeys(row["case"] for row in rows))
    for case in [*cases, "all"]:
        chosen = [row for row in rows if case in ("all", row["case"])]
        elastix_within = sum(row["elastix_mean_mm"] <= 2.5 and row["elastix_max_mm"] <= 5.0 for row in chosen)
        off = [row for row in chosen if not row["ours_within_bar"]]
        good = [row for row in chosen if row["ours_within_bar"]]
        lines.append(
            f"| {case} | {len(chosen)} | {sum(r['ours_wrong'] for r in chosen)} / "
            f"{sum(r['elastix_wrong'] for r in chosen)} | {len(good)} / {elastix_within} | "
            f"{statistics.median(r['ours_mean_mm'] for r in chosen):.2f} / "
            f"{statistics.median(r['elastix_mean_mm'] for r in chosen):.2f} | "
            f"{sum(r['level'] == 'low' for r in off)} of {len(off)} | {sum(r['level'] == 'low' for r in good)} of "
            f"{len(good)} |"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=20, help="seeded random moves per case (and 3 turns)")
    parser.add_argument("--cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    cases = {**stack_cases(), "mri_dir": demo_case()}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, case) in enumerate(cases.items()):
            if not args.cases or name in args.cases:
                rows += run_case(name, *case, args.moves, SEED + index, folder)
    with open(args.csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = "\n".join(summary(rows))
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
