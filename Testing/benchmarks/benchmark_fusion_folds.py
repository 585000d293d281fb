"""Benchmark: fusion methods under k-fold validation by case (issue 20).

For every fold of ``case_folds`` (the 7 Harvard cases: validation (33, 37), (2, 20), (28, 32), (34,)), the
eight fusion metrics, mean over the fold's validation slices, for the four classic rules and for each U-Net
candidate given with ``--model NAME=PATTERN``: PATTERN names one TorchScript model per fold, with ``{fold}``
for the fold's number (models made by ``train_fusion_folds.py``, which never saw their fold's cases). A
candidate whose file is missing for a fold is measured on the folds it has and marked so.

Prints one table per fold and the summary: each metric's mean over the folds (every fold weighs the same)
± the sample standard deviation across folds, and, per candidate, the metrics on which its fold average is
above every classic rule's, how many folds it wins each metric in, how many metrics it wins against each rule
alone, and (``--reference``) its fold average in % of another candidate's. ``--record NAME=RECORD`` stores a
candidate's folds in its training record, whose model card then shows them.

Usage (from the repository root):
    PYTHONPATH=Testing .venv/bin/python Testing/benchmarks/benchmark_fusion_folds.py \\
        --model unet=runs/folds/fold{fold}/fusion_unet.pt [--model teacher=runs/folds/fold{fold}/w1_teacher.pt]
        [--reference teacher --reference-text "..."] [--record unet=Resources/Models/fusion_unet.record.json]
        [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from CTMRFusionLib.datasets.atlas_slices import case_folds, cases, find_pairs, load_arrays, split_by_case
from CTMRFusionLib.fusion import rules as fusion_rules
from CTMRFusionLib.fusion.evaluation import (
    fold_averages,
    fold_summary,
    method_means,
    metrics_beaten_by_rule,
    metrics_won,
    percent_differences,
)
from CTMRFusionLib.fusion.metrics import METRIC_NAMES
from support.report_table import emit_table

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "harvard_ctmri"
RULES = tuple(fusion_rules.RULES)


def fold_means(data, candidates: dict[str, str], device: str) -> tuple[list, list[dict]]:
    """(folds, one {method: {metric: mean}} per fold) for the rules and the candidates present per fold."""
    from CTMRFusionLib.fusion.model import load_fusion_model

    pairs = find_pairs(data)
    folds = case_folds(cases(pairs))
    results = []
    for number, validation_cases in enumerate(folds, 1):
        _, validation = split_by_case(pairs, validation_cases)
        ct, mr = (a.astype(np.float32) for a in load_arrays(validation))
        means = method_means(ct, mr, RULES)
        for name, pattern in candidates.items():
            path = Path(pattern.format(fold=number))
            if path.is_file():
                means[name] = method_means(ct, mr, ["unet"], load_fusion_model(path, device))["unet"]
        results.append(means)
        print(f"fold {number} (cases {', '.join(validation_cases)}, {len(validation)} slices): done", flush=True)
    return folds, results


def store_folds(record_path: Path, name: str, folds, results: list[dict], reference, reference_text: str) -> None:
    """Put candidate ``name``'s per-fold means (the folds it has), the rules' and the reference's on the same folds
    into the training record at ``record_path`` as ``cross_validation``; rewrite the record and its card."""
    from CTMRFusionLib.ml.model_cards import write_record_and_card

    present = [i for i, means in enumerate(results, 1) if name in means]
    entry = {
        "script": "Testing/benchmarks/benchmark_fusion_folds.py",
        "folds": [list(cases) for cases in folds],
        "measured_folds": present,
        "model": [results[i - 1][name] for i in present],
        "rules": {rule: [results[i - 1][rule] for i in present] for rule in RULES},
    }
    if reference and all(reference in results[i - 1] for i in present):
        values = [results[i - 1][reference] for i in present]
        entry["reference"] = {"name": reference, "description": reference_text or reference, "values": values}
    record = json.loads(record_path.read_text())
    record["cross_validation"] = entry
    write_record_and_card(record_path.with_name(record["model_file"]), record)


def _summary_table(summary: dict) -> str:
    """The fold means ± SD of ``fold_summary``, one row per method, printed and returned."""
    return emit_table(
        ["method"] + list(METRIC_NAMES),
        [[m] + [f"{summary[m][n][0]:.4f} ± {summary[m][n][1]:.4f}" for n in METRIC_NAMES] for m in summary],
    )


def _say(line: str) -> str:
    print(line, end="")
    return line


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", action="append", default=[], help="NAME=PATTERN with {fold} (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", help="also write the tables to this Markdown file")
    parser.add_argument("--reference", help="a candidate the others are compared with, in % of its fold average")
    parser.add_argument("--reference-text", default="", help="what the reference is, for the model card")
    parser.add_argument(
        "--record", action="append", default=[], help="NAME=RECORD: store candidate NAME's folds in that training "
        "record (with the rules' and the reference's) and regenerate its model card",
    )  # fmt: skip
    args = parser.parse_args(argv)
    candidates = dict(item.split("=", 1) for item in args.model)

    folds, results = fold_means(args.data, candidates, args.device)
    text = ""
    for number, (validation_cases, means) in enumerate(zip(folds, results), 1):
        text += _say(f"\nFold {number}: validation cases {', '.join(validation_cases)}\n")
        text += emit_table(
            ["method"] + list(METRIC_NAMES),
            [[m] + [f"{means[m][n]:.4f}" for n in METRIC_NAMES] for m in means],
        )
    if not candidates:
        text += _say(f"\nMean over all {len(results)} folds ± SD across them:\n")
        text += _summary_table(fold_summary(results))
    for name in candidates:
        present = [i for i, means in enumerate(results, 1) if name in means]
        if len(present) < len(results):
            text += _say(f"\n{name}: measured on folds {present} only (no model file for the others)\n")
        summary = fold_summary([results[i - 1] for i in present])
        text += _say(f"\nMean over folds {present} ± SD across them:\n")
        text += _summary_table(summary)
        per_fold = {
            n: sum(all(results[i - 1][name][n] > results[i - 1][r][n] for r in RULES) for i in present)
            for n in METRIC_NAMES
        }
        averages = fold_averages(summary)
        won = metrics_won(averages, name, RULES)
        beaten = metrics_beaten_by_rule(averages, name, RULES)
        text += _say(
            f"\n{name} beats every classic rule's fold average on {len(won)} of 8 metrics: {', '.join(won) or 'none'}\n"
            f"folds (of {len(present)}) in which {name} beats every rule: "
            + ", ".join(f"{n} {k}" for n, k in per_fold.items())
            + f"\nmetrics on which {name}'s fold average beats each rule's: "
            + ", ".join(f"{rule} {len(beaten[rule])}" for rule in RULES)
            + "\n"
        )
        if args.reference and args.reference != name and args.reference in summary:
            text += _say(
                f"{name} vs {args.reference} on the fold average: "
                + ", ".join(
                    f"{n} {d}" for n, d in percent_differences(averages[name], averages[args.reference]).items()
                )
                + "\n"
            )
    for item in args.record:
        name, record = item.split("=", 1)
        store_folds(Path(record), name, folds, results, args.reference, args.reference_text)
        text += _say(f"\n{name}'s folds stored in {record} (card regenerated)\n")
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
