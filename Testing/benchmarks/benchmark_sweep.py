"""Sweep benchmark (issue 33): wrong orientations and the confidence verdict under many random moves.

Cases: every shared Harvard stack (1 × 1 × 5 mm, truth: the identity), thin slabs of each (the middle 15 slices,
75 mm; and the first 12 slices, 60 mm, harder than asked), stack 2's CT showing the scanner table's arcs, the middle
17 slices (85 mm, the held-out slab's size) of each with a synthetic couch added to the CT
(``support/scanner_couch.py``), and the MRI-DIR pair (error: its 14 landmark pairs). Each case is moved by 20 seeded
random rigid moves (±30° about each axis, ±30 mm along each, about the CT body centroid) and by the 180° turns about
each axis. CTMRFusion's default registration (in this process, so its report's confidence verdict is kept) and
elastix's default rigid registration run on the same moved files, in one run.

Per run: the error against the truth (mean and max over CT body points, mm), a wrong orientation (mean > 20 mm),
within issue 16's bar (2.5 mm mean and 5 mm max, or no worse than elastix + 0.25 mm), CTMRFusion's confidence
level and the measures it used. Per case: wrong orientations, runs within the bar, median error, for both
methods; how many off-bar runs were flagged low, and how many good ones.

Usage (from the repository root, in the benchmark environment: `make .venv-benchmark/.installed`):
    PYTHONPATH=Testing .venv-benchmark/bin/python Testing/benchmarks/benchmark_sweep.py \
        --csv Testing/benchmarks/results/sweep.csv --markdown Testing/benchmarks/results/sweep.md [--moves 20] \
        [--cases "couch17 20" ... --merge]
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
from support.scanner_couch import add_couch

WRONG_ORIENTATION_MM = 20.0
SEED = 33
#: Slices in the couch cases' slabs: the held-out slab of issue 33 (17 × 5 mm with the table's arcs).
COUCH_SLAB_SLICES = 17
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


def couch_cases() -> dict:
    """Case name → the middle 17 slices (or all, where fewer) of each stack with a synthetic couch in the CT."""
    found = {}
    for name, (ct, mr) in atlas_stacks(SHARED_DATA / "harvard_ctmri").items():
        ct_slices, mr_slices = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(mr)
        count = min(COUCH_SLAB_SLICES, len(ct_slices))
        part = slice((len(ct_slices) - count) // 2, (len(ct_slices) - count) // 2 + count)
        ct_part, mr_part = stack(ct_slices[part]), stack(mr_slices[part])
        points = body_points(ct_part)  # the error is measured in the head, not on the couch
        found[f"couch{count} {name}"] = (
            add_couch(ct_part),
            mr_part,
            points,
            lambda m, move, p=points: errors(m, move, p),
        )
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
    return [*lines, "", twins_line(rows)]


#: Two runs of a case whose mean errors differ by at most this much (mm) ended at the same optimum, as far as the
#: truth can tell: a verdict computed from the result cannot tell them apart.
TWIN_MM = 0.1


def twins_line(rows: list[dict]) -> str:
    """How many off-bar runs have a within-bar twin (a run of the same case whose mean error is within
    :data:`TWIN_MM`): for those, elastix's result on the move, not CTMRFusion's, put the run off the bar; and how
    many good runs a verdict that flagged every off-bar run would also have to flag (the twins)."""
    off = [row for row in rows if not row["ours_within_bar"]]
    good = [row for row in rows if row["ours_within_bar"]]

    def twins_of(run):
        return [
            row
            for row in good
            if row["case"] == run["case"] and abs(row["ours_mean_mm"] - run["ours_mean_mm"]) <= TWIN_MM
        ]

    with_twin = [run for run in off if twins_of(run)]
    flagged_good = {(row["case"], row["move"]) for run in off for row in twins_of(run)}
    share = len(flagged_good) / max(len(good), 1)
    return (
        f"Off-bar runs with a within-bar twin (a run of the same case ending within {TWIN_MM} mm of its mean error, "
        f"where elastix did worse on that move): {len(with_twin)} of {len(off)}. A verdict that flagged every "
        f"off-bar run from the result alone would also flag their twins: {len(flagged_good)} of {len(good)} good "
        f"runs ({share:.0%})."
    )


def merged(path: str, new_rows: list[dict], order: list[str]) -> list[dict]:
    """The rows of the CSV at ``path`` whose case is not in ``new_rows``, with ``new_rows``, in case ``order``."""
    with open(path, newline="") as handle:
        old = [_typed(row) for row in csv.DictReader(handle)]
    rerun = {row["case"] for row in new_rows}
    rows = [row for row in old if row["case"] not in rerun] + new_rows
    return sorted(rows, key=lambda row: (order.index(row["case"]) if row["case"] in order else len(order), row["move"]))


def _typed(row: dict) -> dict:
    """A CSV row with its numbers and flags as the benchmark wrote them."""
    flags, texts = ("ours_within_bar", "ours_wrong", "elastix_wrong"), ("case", "level", "reasons")
    typed = dict(row, move=int(row["move"]))
    for key in flags:
        typed[key] = row[key] == "True"
    for key in set(COLUMNS) - {"move", *flags, *texts}:  # the numbers; an unmeasured one is empty
        typed[key] = float(row[key]) if row[key] not in ("", "None") else None
    return typed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=20, help="seeded random moves per case (and 3 turns)")
    parser.add_argument("--cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--markdown")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other cases' rows of an existing --csv (rerun only --cases)"
    )
    parser.add_argument("--render", action="store_true", help="run nothing: write the table of an existing --csv")
    args = parser.parse_args(argv)
    if args.render:
        with open(args.csv, newline="") as handle:
            return _write_table([_typed(row) for row in csv.DictReader(handle)], args.markdown)
    cases = {**stack_cases(), "mri_dir": demo_case(), **couch_cases()}  # new cases last: the seeds stay
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, case) in enumerate(cases.items()):
            if not args.cases or name in args.cases:
                rows += run_case(name, *case, args.moves, SEED + index, folder)
    if args.merge and Path(args.csv).exists():
        rows = merged(args.csv, rows, list(cases))
    with open(args.csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return _write_table(rows, args.markdown)


def _write_table(rows: list[dict], markdown: str | None) -> int:
    table = "\n".join(summary(rows))
    print(table)
    if markdown:
        Path(markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
