"""``ctmrfusion train-registration``: train (and export) the deep registration initializer."""

from __future__ import annotations

from pathlib import Path

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.datasets.atlas_slices import VALIDATION_CASES
from CTMRFusionLib.deep_registration.grid import FEATURES
from CTMRFusionLib.io.output_paths import check_outputs


def add_parser(commands) -> None:
    train = commands.add_parser(
        "train-registration", help="train the deep registration initializer on pre-aligned CT/MR pairs"
    )
    train.add_argument("--data", required=True, help="Harvard-layout folder (CT/, MRI/ PNG slices <case><slice>.png)")
    train.add_argument("--out", required=True, help="run folder: checkpoint.pt, final.pt, history.json")
    train.add_argument(
        "--pair",
        nargs=4,
        action="append",
        default=[],
        metavar=("NAME", "CT", "MR", "TRANSFORM"),
        help="extra aligned pair: CT and MR files and the CT→MR ITK transform that aligns them "
        "(e.g. written by 'ctmrfusion register'); repeatable",
    )
    train.add_argument(
        "--features", default="raw", help=f"comma-separated feature channels per modality, from {', '.join(FEATURES)}"
    )
    train.add_argument(
        "--loss",
        choices=("intra", "direct", "hybrid"),
        default="hybrid",
        help="intra: MR↔MR and CT↔CT NCC (the seed's); direct: parameter supervision; hybrid: both",
    )
    train.add_argument("--width", type=int, default=8, help="channels of the first convolution block")
    train.add_argument("--grid-size", type=int, default=40, help="network grid side (voxels)")
    train.add_argument("--spacing", type=float, default=8.0, help="network grid voxel size (mm)")
    train.add_argument("--steps", type=int, default=1500)
    train.add_argument(
        "--curriculum",
        type=float,
        default=0.3,
        help="share of the steps over which the move range grows from 20%% to 100%%",
    )
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate (cosine schedule)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-cases", default=",".join(VALIDATION_CASES), help="comma-separated held-out cases")
    train.add_argument("--validation-moves", type=int, default=16, help="fixed random moves per validation case")
    train.add_argument("--validate-every", type=int, default=100, help="steps between validation lines")
    train.add_argument("--max-angle", type=float, default=60.0, help="training moves: ± degrees per axis")
    train.add_argument("--max-translation", type=float, default=60.0, help="training moves: ± mm per axis")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    train.add_argument("--stop-after", type=int, default=0, help="stop (resumably) after this many steps")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--export", help="after training, write the model as TorchScript here (+ .md card)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    try:
        from CTMRFusionLib.deep_registration.export import export_final  # noqa: PLC0415
        from CTMRFusionLib.deep_registration.training import RegistrationTrainingConfig, train  # noqa: PLC0415
    except ImportError as error:
        raise InvalidInputError(f"Training needs PyTorch ('pip install torch'): {error}") from None
    features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise InvalidInputError(f"--features: unknown {unknown}; choose from {', '.join(FEATURES)}.")
    for name, *files in args.pair:
        for path in files:
            if not Path(path).exists():
                raise InvalidInputError(f"--pair {name}: {path} not found.")
    config = RegistrationTrainingConfig(
        data=args.data,
        output=args.out,
        extra_pairs=[list(p) for p in args.pair],
        features=features,
        loss=args.loss,
        width=args.width,
        grid_size=args.grid_size,
        spacing_mm=args.spacing,
        steps=args.steps,
        curriculum=args.curriculum,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        validation_cases=tuple(c.strip() for c in args.validation_cases.split(",") if c.strip()),
        validation_moves=args.validation_moves,
        validate_every=args.validate_every,
        max_angle_deg=args.max_angle,
        max_translation_mm=args.max_translation,
        threads=args.threads,
        stop_after=args.stop_after,
    )
    if args.export:
        check_outputs({"--export": args.export}, [])
    history = train(config, show_progress=not args.quiet, resume=args.resume)
    if args.export and (Path(args.out) / "final.pt").is_file():
        digest = export_final(Path(args.out), Path(args.export), history)
        print(f"Exported {args.export} (SHA-256 {digest}) and its model card {Path(args.export).with_suffix('.md')}")
