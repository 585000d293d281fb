"""Benchmark: the shipped fusion U-Net against the classic rules on the held-out Harvard cases.

Prints (1) the eight fusion metrics, mean over every slice of the validation cases (never seen in training),
for the U-Net, its flip-averaged teacher (``--teacher``) and each classic rule, with the number of metrics on
which the U-Net beats every rule and its difference from the teacher per metric (issue 20: within 0.5 % or
better); and (2) wall times on this machine for one 256×256 slice and for a 256×256×200 volume (real
validation slices repeated to 200), all methods run in the same process, and their ratios to the GFF rule's.

Usage (from the repository root):
    PYTHONPATH=Testing python Testing/benchmarks/benchmark_fusion.py [--data ../shared/data/harvard_ctmri]
       [--markdown FILE]
       [--model PATH] [--teacher PATH|''] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from CTMRFusionLib.datasets.atlas_slices import VALIDATION_CASES, find_pairs, load_arrays, split_by_case
from CTMRFusionLib.fusion import rules as fusion_rules
from CTMRFusionLib.fusion.evaluation import leads_over_best, method_means, metrics_won, percent_differences
from CTMRFusionLib.fusion.metrics import METRIC_NAMES
from CTMRFusionLib.fusion.model import load_fusion_model
from CTMRFusionLib.fusion.pipeline import fuse_stacks
from CTMRFusionLib.ml.registry import model_entry
from support.report_table import emit_table

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "harvard_ctmri"
METHODS = ("unet",) + tuple(fusion_rules.RULES)
#: The registry entry of the flip-averaged model the shipped one was distilled from.
TEACHER = "fusion_unet_teacher"


def timings(ct, mr, models: dict, repeats: int = 5) -> dict:
    """{row: (one slice's median time, s; the 256×256×200 volume's time, s)}; ``models``: {row: model} for the
    U-Net rows (the classic rules need none)."""
    volume_ct = np.resize(ct, (200,) + ct.shape[1:])
    volume_mr = np.resize(mr, (200,) + mr.shape[1:])
    times = {}
    for row in [*models, *fusion_rules.RULES]:
        method, model = ("unet", models[row]) if row in models else (row, None)
        fuse_stacks(ct[:1], mr[:1], method, model)  # warm-up
        single = []
        for _ in range(repeats):
            tick = time.perf_counter()
            fuse_stacks(ct[:1], mr[:1], method, model)
            single.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        fuse_stacks(volume_ct, volume_mr, method, model)
        times[row] = (float(np.median(single)), time.perf_counter() - tick)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", help="TorchScript model (default: the shipped one)")
    parser.add_argument(
        "--teacher",
        default=str(model_entry(TEACHER).path),
        help="the flip-averaged model the shipped one was distilled from, measured beside it ('' to skip)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)

    import torch

    model = load_fusion_model(args.model, args.device)
    _, validation = split_by_case(find_pairs(args.data))
    ct, mr = (a.astype(np.float32) for a in load_arrays(validation))
    print(
        f"Validation cases {', '.join(VALIDATION_CASES)}: {len(validation)} slices; model {model.path.name} "
        f"(SHA-256 {model.sha256[:12]}…) on {model.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads\n"
    )
    means = method_means(ct, mr, METHODS, model)
    models = {"unet": model}
    if args.teacher:
        teacher = load_fusion_model(args.teacher, args.device)
        models["unet teacher"] = teacher
        means["unet teacher"] = method_means(ct, mr, ["unet"], teacher)["unet"]
    leads = leads_over_best(means)
    won = metrics_won(means)
    rows = [[method] + [f"{means[method][n]:.4f}" for n in METRIC_NAMES] for method in means]
    text = emit_table(["method"] + list(METRIC_NAMES), rows)
    lead_text = "; ".join(f"{name} {lead:+.4f} ({rule})" for name, (lead, rule) in leads.items())
    summary = (
        f"\nU-Net beats every classic rule on {len(won)} of 8 metric means: {', '.join(won) or 'none'}\n"
        f"U-Net minus the best rule: {lead_text}\n\n"
    )
    if args.teacher:
        summary += "U-Net against its teacher (issue 20: each within 0.5 % or better): " + "; ".join(
            f"{n} {d}" for n, d in percent_differences(means["unet"], means["unet teacher"]).items()
        )
        summary += "\n\n"
    print(summary, end="")
    times = timings(ct, mr, models)
    gff = times["gff"]  # issue 20's yardstick: the U-Net's volume time within 2.5x GFF's
    text += summary + emit_table(
        ["method", "one 256×256 slice (ms)", "256×256×200 volume (s)", "slice time / GFF", "volume time / GFF"],
        [
            [m, f"{t[0] * 1000:.1f}", f"{t[1]:.2f}", f"{t[0] / gff[0]:.2f}", f"{t[1] / gff[1]:.2f}"]
            for m, t in times.items()
        ],
    )
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
