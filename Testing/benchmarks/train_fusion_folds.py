"""Train a fusion model's whole recipe again for each fold of a k-fold validation by case (issue 20).

The shipped model's training record (``Resources/Models/fusion_unet.record.json``) lists the chain of runs
that made it, each with its full configuration. This script replays that chain
(:func:`CTMRFusionLib.fusion.cross_validation.replay_chain`) for every fold of ``case_folds`` (the 7 Harvard
cases: validation (33, 37), (2, 20), (28, 32), (34,)), the fold's cases held out from every run, so that each
fold's model never saw the slices it is measured on. Each fold's final model is exported as
``OUT/fold<i>/fusion_unet.pt`` (with record and card); ``benchmark_fusion_folds.py`` then measures every
fold. Replays resume where they stopped.

On the 2-core CPU a chain of 292 epochs takes about 1.5 h per fold on one thread; on a GPU, minutes.

Usage (from the repository root):
    .venv/bin/python Testing/benchmarks/train_fusion_folds.py --out runs/folds [--folds 2,3] [--threads 1]
        [--record Resources/Models/fusion_unet.record.json] [--data ../shared/data/harvard_ctmri]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

from CTMRFusionLib.datasets.atlas_slices import case_folds, cases, find_pairs
from CTMRFusionLib.fusion.cross_validation import replay_chain

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "harvard_ctmri"
DEFAULT_RECORD = ROOT / "Resources" / "Models" / "fusion_unet.record.json"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--record", default=str(DEFAULT_RECORD), help="training record whose chain is replayed")
    parser.add_argument("--out", required=True, help="folder for the folds' runs and models")
    parser.add_argument("--folds", help="comma-separated fold numbers (1-based; default: all)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    chain = json.loads(Path(args.record).read_text())["chain"]
    folds = case_folds(cases(find_pairs(args.data)))
    chosen = [int(f) for f in args.folds.split(",")] if args.folds else range(1, len(folds) + 1)
    print("folds: " + "; ".join(f"{i} = cases {', '.join(v)}" for i, v in enumerate(folds, 1)), flush=True)
    for fold in chosen:
        path = replay_chain(
            chain, folds[fold - 1], args.data, Path(args.out) / f"fold{fold}", args.threads,
            log=lambda line, fold=fold: print(f"fold {fold}: {line}", flush=True),
        )  # fmt: skip
        print(f"fold {fold}: exported {path}", flush=True)


if __name__ == "__main__":
    main()
