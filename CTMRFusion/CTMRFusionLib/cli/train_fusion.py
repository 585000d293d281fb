"""``ctmrfusion train-fusion``: train (and export) the fusion U-Net on CT/MR slice pairs (needs torch)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.datasets.atlas_slices import VALIDATION_CASES
from CTMRFusionLib.io.output_paths import check_outputs


def add_parser(commands) -> None:
    train = commands.add_parser("train-fusion", help="train the fusion U-Net on CT/MR slice pairs")
    train.add_argument("--data", required=True, help="folder with CT/ and MRI/ PNG slices (<case><slice>.png)")
    train.add_argument("--out", required=True, help="run folder: checkpoints, history.json")
    train.add_argument("--mode", choices=("unsupervised", "supervised", "distillation"), default="unsupervised")
    train.add_argument("--targets", help="supervised mode: folder of fused target PNGs named like the CT slices")
    train.add_argument("--teacher", help="distillation mode: TorchScript fusion model whose outputs are the targets")
    train.add_argument(
        "--fusion-share",
        type=float,
        default=0.0,
        help="distillation mode: add this times the unsupervised fusion loss (--loss-weights) to the distillation loss",
    )
    train.add_argument("--width", type=int, default=16, help="U-Net base width (channels of the first block)")
    train.add_argument("--epochs", type=int, default=60)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--crop", type=int, default=128, help="training crop side (pixels)")
    train.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate (cosine schedule)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--validation-cases",
        default=",".join(VALIDATION_CASES),
        help="comma-separated case numbers held out for validation",
    )
    train.add_argument(
        "--loss-weights", default="{}", help='JSON of unsupervised loss weights, e.g. \'{"ssim": 1, "scd": 0.5}\''
    )
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    train.add_argument("--limit-slices", type=int, default=0, help=argparse.SUPPRESS)
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--init-from", help="fine-tune: start from these weights (TorchScript model or best.pt)")
    train.add_argument("--export", help="after training, write the best model as TorchScript here (+ .md card)")
    train.add_argument(
        "--flip-average",
        action="store_true",
        help="the exported model averages its output over the 4 mirror images of each slice "
        "(4× inference time); the final validation metrics are measured that way",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    try:
        from CTMRFusionLib.fusion.losses import LossWeights  # noqa: PLC0415
        from CTMRFusionLib.fusion.training import TrainingConfig, export_best, train  # noqa: PLC0415
    except ImportError as error:
        raise InvalidInputError(f"Training needs PyTorch ('pip install torch'): {error}") from None
    try:
        weights = LossWeights(**json.loads(args.loss_weights))
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise InvalidInputError(f"--loss-weights: {error}") from None
    config = TrainingConfig(
        data=args.data,
        output=args.out,
        mode=args.mode,
        targets=args.targets,
        teacher=args.teacher,
        fusion_share=args.fusion_share,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        crop=args.crop,
        learning_rate=args.lr,
        seed=args.seed,
        validation_cases=tuple(c.strip() for c in args.validation_cases.split(",") if c.strip()),
        weights=weights,
        threads=args.threads,
        limit_slices=args.limit_slices,
        init_from=args.init_from,
        flip_average=args.flip_average,
    )
    if args.export:
        check_outputs({"--export": args.export}, [])
    history = train(config, show_progress=not args.quiet, resume=args.resume)
    if args.export:
        digest = export_best(Path(args.out), Path(args.export), history)
        print(f"Exported {args.export} (SHA-256 {digest}) and its model card {Path(args.export).with_suffix('.md')}")
