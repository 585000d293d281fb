"""``ctmrfusion fuse`` and ``ctmrfusion train-fusion``: the fusion sub-commands of the command line."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .fusion_pipeline import METHODS, fuse_images, load_model_for
from .image_checks import InvalidInputError
from .image_io import check_output_path, read_image, write_image
from .slice_pairs import VALIDATION_CASES

FUSE_EPILOG = """\
2D images (PNG, TIFF…) in give an 8-bit image of the same size out, on the same 0-255 scale. 3D volumes
(the MR already registered, e.g. register's --volume output) give a float volume (0-255 fusion scale) in
the CT's geometry: CT HU are windowed to -100…200 HU, the MR's 99.5th body percentile is mapped to 240.
--model loads a TorchScript file you trust (TorchScript runs code); without it the shipped model is used,
after its SHA-256 is verified.
"""


def add_fuse_parser(commands, formatter) -> None:
    fuse = commands.add_parser("fuse", help="fuse a registered CT/MR pair (U-Net or a classic rule)",
                               epilog=FUSE_EPILOG, formatter_class=formatter)
    fuse.add_argument("--ct", required=True, help="CT image (2D slice or 3D volume) or DICOM folder")
    fuse.add_argument("--mr", required=True, help="MR image registered to the CT (same size for 2D)")
    fuse.add_argument("--output", required=True, help="output image (2D: PNG/TIFF 8-bit; 3D: .nrrd, .nii.gz…)")
    fuse.add_argument("--method", choices=METHODS, default="unet", help="fusion method (default: unet)")
    fuse.add_argument("--model", help="TorchScript fusion model to load instead of the shipped one")
    fuse.add_argument("--model-sha256", help="refuse --model unless its SHA-256 is this")
    fuse.add_argument("--device", default="auto", help="auto (GPU if available), cpu or cuda")
    fuse.add_argument("--batch-size", type=int, default=8, help="slices per U-Net batch (default 8)")
    fuse.add_argument("--quiet", action="store_true", help="no progress display")


def run_fuse(args, progress) -> None:
    if args.model and args.method != "unet":
        raise InvalidInputError("--model is only used with --method unet.")
    if args.batch_size < 1:
        raise InvalidInputError(f"--batch-size must be at least 1, got {args.batch_size}.")
    check_output_path(args.output, [args.ct, args.mr, args.model])
    ct, mr = read_image(args.ct, "CT"), read_image(args.mr, "MR")
    model = load_model_for(args.method, args.model, args.device, args.model_sha256)
    started = time.perf_counter()
    fused = fuse_images(ct, mr, args.method, model, batch_size=args.batch_size, progress=progress)
    write_image(fused, args.output)
    size = "×".join(str(s) for s in fused.GetSize())
    where = f" on {model.device}" if model is not None else ""
    print(f"Fused ({args.method}{where}) {size} in {time.perf_counter() - started:.1f} s → {args.output}")


def add_train_parser(commands, formatter) -> None:
    train = commands.add_parser("train-fusion", help="train the fusion U-Net on CT/MR slice pairs",
                                formatter_class=formatter)
    train.add_argument("--data", required=True, help="folder with CT/ and MRI/ PNG slices (<case><slice>.png)")
    train.add_argument("--out", required=True, help="run folder: checkpoints, history.json")
    train.add_argument("--mode", choices=("unsupervised", "supervised"), default="unsupervised")
    train.add_argument("--targets", help="supervised mode: folder of fused target PNGs named like the CT slices")
    train.add_argument("--width", type=int, default=16, help="U-Net base width (channels of the first block)")
    train.add_argument("--epochs", type=int, default=60)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--crop", type=int, default=128, help="training crop side (pixels)")
    train.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate (cosine schedule)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-cases", default=",".join(VALIDATION_CASES),
                       help="comma-separated case numbers held out for validation")
    train.add_argument("--loss-weights", default="{}",
                       help='JSON of unsupervised loss weights, e.g. \'{"ssim": 1, "scd": 0.5}\'')
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    train.add_argument("--limit-slices", type=int, default=0, help=argparse.SUPPRESS)
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--init-from", help="fine-tune: start from these weights (TorchScript model or best.pt)")
    train.add_argument("--export", help="after training, write the best model as TorchScript here (+ .md card)")
    train.add_argument("--flip-average", action="store_true",
                       help="the exported model averages its output over the 4 mirror images of each slice "
                            "(4× inference time); the final validation metrics are measured that way")
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def run_train(args) -> None:
    try:
        from .fusion_losses import LossWeights  # noqa: PLC0415
        from .fusion_training import TrainingConfig, export_best, train  # noqa: PLC0415
    except ImportError as error:
        raise InvalidInputError(f"Training needs PyTorch ('pip install torch'): {error}") from None
    try:
        weights = LossWeights(**json.loads(args.loss_weights))
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise InvalidInputError(f"--loss-weights: {error}") from None
    config = TrainingConfig(
        data=args.data, output=args.out, mode=args.mode, targets=args.targets, width=args.width,
        epochs=args.epochs, batch_size=args.batch_size, crop=args.crop, learning_rate=args.lr, seed=args.seed,
        validation_cases=tuple(c.strip() for c in args.validation_cases.split(",") if c.strip()),
        weights=weights, threads=args.threads, limit_slices=args.limit_slices, init_from=args.init_from,
        flip_average=args.flip_average,
    )
    if args.export:
        check_output_path(args.export, [])
    history = train(config, show_progress=not args.quiet, resume=args.resume)
    if args.export:
        digest = export_best(Path(args.out), Path(args.export), history)
        print(f"Exported {args.export} (SHA-256 {digest}) and its model card {Path(args.export).with_suffix('.md')}")
