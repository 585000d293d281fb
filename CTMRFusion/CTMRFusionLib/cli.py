"""``ctmrfusion`` command line: registration, fusion, training, snapshots and demo on image files.

Transforms written by ``register`` are ITK transform files in LPS that map CT (fixed) points to MR
(moving) points: ``sitk.Resample(mr, ct, sitk.ReadTransform(path))`` puts the MR on the CT, and Slicer
loads the file as the transform that moves the MR onto the CT.

Exit codes: 0 success, 2 bad input (the one-line reason is printed), 130 interrupted, 1 unexpected error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import SimpleITK as sitk

from . import __version__
from .cli_fusion import add_fuse_parser, add_train_parser, run_fuse, run_train
from .cli_registration_training import add_train_registration_parser, run_train_registration
from .image_checks import InvalidInputError, check_volume
from .image_io import check_output_path, read_image, read_transform, write_image, write_transform
from .landmarks import LandmarkError, match_landmarks, read_landmarks, target_registration_error
from .progress import ProgressEvent
from .registration_options import INITIALIZERS, INTERPOLATORS, RegistrationOptions, preset_names
from .resampling import resample_onto
from .rigid_registration import register_rigid
from .sample_data import ATTRIBUTION, demo_pair

REGISTER_EPILOG = """\
The transform file (--transform, .h5 or .tfm) is an ITK transform in LPS mm that maps CT (fixed) points
to MR (moving) points, so that sitk.Resample(mr, ct, sitk.ReadTransform(FILE)) puts the MR on the CT grid.
Slicer reads the same file as the transform that shows the MR aligned on the CT.
"""


class TerminalProgress:
    """Progress on stderr: one rewritten line on a terminal, a line per 10 % otherwise."""

    def __init__(self, stream=sys.stderr, quiet: bool = False):
        self.stream, self.quiet = stream, quiet
        self.interactive = hasattr(stream, "isatty") and stream.isatty()
        self.last_decile = (None, -1)

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        detail = event.message
        if event.stage == "register" and event.iteration:
            detail += f" it {event.iteration} MI {event.metric:.4f}"
        line = f"{event.stage:10s} {event.fraction * 100:5.1f}%  {detail}"
        if self.interactive:
            self.stream.write("\r" + line[:100].ljust(100))
            if event.fraction >= 1.0:
                self.stream.write("\n")
        else:
            decile = (event.stage, int(event.fraction * 10))
            if decile != self.last_decile:
                self.last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()


def _options(args) -> RegistrationOptions:
    options = RegistrationOptions.from_preset(args.preset)
    changes = {"final_interpolator": args.interpolator}
    if args.initializer:
        changes["initializer"] = args.initializer
    if args.deep_model:
        if (args.initializer or options.initializer) != "deep":
            raise InvalidInputError("--deep-model is only used with --initializer deep.")
        changes["deep_model"] = args.deep_model
    changes["deep_device"] = args.device
    return options.replace(**changes)


def run_registration(args) -> dict:
    """Register the files named in ``args``; write the outputs; return the report dictionary."""
    inputs = [args.ct, args.mr, args.ct_mask, args.mr_mask, args.ct_landmarks, args.mr_landmarks,
              args.initial_transform, args.deep_model]
    outputs = [p for p in (args.transform, args.volume, args.report) if p]
    for output in outputs:
        check_output_path(output, inputs)
    if bool(args.ct_landmarks) != bool(args.mr_landmarks):
        raise LandmarkError("Give both --ct-landmarks and --mr-landmarks, or neither.")
    options = _options(args)
    progress = TerminalProgress(quiet=args.quiet)

    started = time.perf_counter()
    ct = read_image(args.ct, "CT")
    mr = read_image(args.mr, "MR")
    ct_mask = read_image(args.ct_mask, "CT mask") if args.ct_mask else None
    mr_mask = read_image(args.mr_mask, "MR mask") if args.mr_mask else None
    landmarks = None
    if args.ct_landmarks:
        landmarks = (read_landmarks(args.ct_landmarks), read_landmarks(args.mr_landmarks))
        match_landmarks(*landmarks, by=args.pairing)  # fail now, not after the registration
    initial = read_transform(args.initial_transform) if args.initial_transform else None
    read_seconds = time.perf_counter() - started

    result = register_rigid(ct, mr, options, ct_mask, mr_mask, initial, progress=progress)
    report = {
        "ctmrfusion_version": __version__,
        "inputs": {"ct": str(args.ct), "mr": str(args.mr)},
        "transform_convention": "ITK, LPS mm, maps CT (fixed) points to MR (moving) points",
        "options": options.to_dict(),
        **result.to_dict(),
    }
    report["timings_seconds"]["read"] = read_seconds
    if landmarks is not None:
        report["tre"] = target_registration_error(result.transform, *landmarks, by=args.pairing).to_dict()
    if args.volume:
        tick = time.perf_counter()
        resampled = resample_onto(mr, ct, result.transform, args.interpolator, progress=progress)
        write_image(resampled, args.volume)
        report["timings_seconds"]["resample"] = time.perf_counter() - tick
    write_transform(result.transform, args.transform)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    return report


def _print_summary(report: dict, stream=sys.stdout) -> None:
    parameters = report["parameters"]
    angles = ", ".join(f"{a:.4f}" for a in parameters["angles_rad"])
    translation = ", ".join(f"{t:.2f}" for t in parameters["translation_mm"])
    print(f"Metric (Mattes MI): {report['metric']:.4f} after {report['iterations']} iterations, "
          f"{report['elapsed_seconds']:.1f} s", file=stream)
    print(f"Angles (rad, LPS x/y/z): {angles}; translation (mm, LPS): {translation}", file=stream)
    if "tre" in report:
        before, after = report["tre"]["before"], report["tre"]["after"]
        print(f"Landmark TRE over {after['count']} pairs: before {before['mean_mm']:.2f} mm mean; after "
              f"{after['mean_mm']:.2f} mm mean, {after['median_mm']:.2f} median, {after['max_mm']:.2f} max",
              file=stream)


def _add_register_arguments(parser) -> None:
    parser.add_argument("--ct", required=True, help="CT (fixed) image file or DICOM folder")
    parser.add_argument("--mr", required=True, help="MR (moving) image file or DICOM folder")
    parser.add_argument("--transform", required=True, help="output ITK transform (.h5/.tfm), CT→MR points, LPS")
    parser.add_argument("--volume", help="output: MR resampled on the CT grid (e.g. .nrrd, .nii.gz)")
    parser.add_argument("--report", help="output JSON report: parameters, metric, iterations, timings, TRE")
    parser.add_argument("--interpolator", choices=INTERPOLATORS, default="sinc",
                        help="interpolator of the final resample (default: sinc = Hamming-windowed sinc)")
    parser.add_argument("--preset", choices=preset_names(), default="default", help="registration preset")
    parser.add_argument("--initializer", choices=INITIALIZERS,
                        help="initial alignment (default: search; deep: the registration network, needs torch)")
    parser.add_argument("--initial-transform",
                        help="start from this ITK transform file (CT→MR, LPS) instead of an initializer; with "
                             "--initializer deep the network corrects it")
    parser.add_argument("--deep-model", help="TorchScript registration network to use instead of the shipped one")
    parser.add_argument("--device", default="auto", help="deep initializer device: auto (GPU if available), cpu, cuda")
    parser.add_argument("--ct-mask", help="optional CT mask image (non-zero = use)")
    parser.add_argument("--mr-mask", help="optional MR mask image (non-zero = use)")
    parser.add_argument("--ct-landmarks", help="CT landmarks (.mrk.json, .fcsv, .csv in LPS)")
    parser.add_argument("--mr-landmarks", help="MR landmarks, paired with the CT ones")
    parser.add_argument("--pairing", choices=("label", "order"), default="label", help="landmark pairing")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctmrfusion", description="CT–MR registration and fusion.")
    parser.add_argument("--version", action="version", version=f"ctmrfusion {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="rigidly register an MR onto a CT", epilog=REGISTER_EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_register_arguments(register)
    snapshot = commands.add_parser(
        "snapshot", help="render Slicer's slice views (blend, checkerboard) and 3D view of a CT/MR pair to PNGs")
    snapshot.add_argument("--ct", required=True, help="CT image file or DICOM folder")
    snapshot.add_argument("--mr", required=True, help="MR image file or DICOM folder")
    snapshot.add_argument("--transform", help="CT→MR transform (ITK file, as written by register); "
                                              "without it the MR is taken where its header puts it")
    snapshot.add_argument("--out", required=True, help="output folder for the PNGs")
    snapshot.add_argument("--opacity", type=float, default=0.5, help="MR opacity in the blend (0-1)")
    snapshot.add_argument("--square-mm", type=float, default=20.0, help="checkerboard square side (mm)")
    add_fuse_parser(commands, argparse.RawDescriptionHelpFormatter)
    add_train_parser(commands, argparse.HelpFormatter)
    add_train_registration_parser(commands, argparse.HelpFormatter)
    demo = commands.add_parser("demo", help="register and fuse the bundled sample pair; report landmark TRE")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--interpolator", choices=INTERPOLATORS, default="sinc")
    demo.add_argument("--quiet", action="store_true")
    demo.add_argument("--no-snapshots", action="store_true", help="skip the PNG snapshots of Slicer's views")
    return parser


def _snapshots(ct, mr, transform, out_dir, opacity=0.5, square_mm=20.0) -> dict:
    """Resample the MR on the CT grid through ``transform`` and render the PNGs; {name: path}."""
    try:
        from .snapshots import render_fusion_snapshots
    except ImportError as error:
        raise InvalidInputError(
            f"Snapshots need slicer-core and trame-slicer (pip install 'ctmrfusion[slicer]'): {error}") from error
    mr_on_ct = resample_onto(mr, ct, transform, "linear")
    return render_fusion_snapshots(ct, mr_on_ct, out_dir, opacity, square_mm)


def _snapshot(args) -> None:
    if not 0.0 <= args.opacity <= 1.0:
        raise InvalidInputError(f"--opacity must be between 0 and 1, got {args.opacity}.")
    ct, mr = read_image(args.ct, "CT"), read_image(args.mr, "MR")
    check_volume(ct, "CT")
    check_volume(mr, "MR")
    transform = sitk.ReadTransform(args.transform) if args.transform else sitk.Transform()
    for name, path in _snapshots(ct, mr, transform, args.out, args.opacity, args.square_mm).items():
        print(f"{name}: {path}")


def _demo(args) -> dict:
    pair = demo_pair()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(ATTRIBUTION)
    # Through the register command's own parser, so the demo gets exactly its defaults.
    namespace = build_parser().parse_args([
        "register", "--ct", str(pair.ct), "--mr", str(pair.mr), "--transform", str(out / "mr_to_ct.h5"),
        "--volume", str(out / "mr_on_ct.nrrd"), "--report", str(out / "registration_report.json"),
        "--interpolator", args.interpolator, "--ct-landmarks", str(pair.ct_landmarks),
        "--mr-landmarks", str(pair.mr_landmarks), *(["--quiet"] if args.quiet else []),
    ])
    report = run_registration(namespace)
    print(f"Wrote {namespace.transform}, {namespace.volume} and {namespace.report}")
    _demo_fusion(read_image(pair.ct, "CT"), read_image(namespace.volume, "MR on CT"), out)
    if not args.no_snapshots:
        pictures = _snapshots(read_image(pair.ct, "CT"), read_image(pair.mr, "MR"),
                              sitk.ReadTransform(namespace.transform), out / "snapshots")
        print(f"Wrote {len(pictures)} snapshots of Slicer's views to {out / 'snapshots'}")
    return report


def _demo_fusion(ct, mr_on_ct, out: Path) -> None:
    """Fuse the registered demo pair with the U-Net (if torch is installed) and the max and GFF rules; write
    the fused volumes and a CT | MR | fused montage of the middle slices."""
    from .fusion_montage import write_fusion_montage
    from .fusion_pipeline import fuse_stacks, load_model_for, volume_like, volumes_on_fusion_scale

    methods = ["max", "gff"]
    try:
        model = load_model_for("unet")
        methods.append("unet")
    except InvalidInputError as error:  # no torch: the classic rules still run
        model = None
        print(f"U-Net fusion skipped: {error}")
    ct_scaled, mr_scaled = volumes_on_fusion_scale(ct, mr_on_ct)  # normalised once for every method
    columns = {"CT": ct_scaled, "MR": mr_scaled}
    for method in methods:
        tick = time.perf_counter()
        columns[method] = fuse_stacks(ct_scaled, mr_scaled, method, model)
        write_image(volume_like(columns[method], ct), out / f"fused_{method}.nrrd")
        print(f"Fused ({method}) in {time.perf_counter() - tick:.1f} s → {out / f'fused_{method}.nrrd'}")
    titles = write_fusion_montage(columns, out / "fusion_montage.png")
    print(f"Wrote {out / 'fusion_montage.png'} (columns: {' | '.join(titles)}; rows: axial, coronal, sagittal)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "snapshot":
            _snapshot(args)
            return 0
        if args.command == "fuse":
            run_fuse(args, TerminalProgress(quiet=args.quiet))
            return 0
        if args.command == "train-fusion":
            run_train(args)
            return 0
        if args.command == "train-registration":
            run_train_registration(args)
            return 0
        report = _demo(args) if args.command == "demo" else run_registration(args)
    except (InvalidInputError, LandmarkError, ValueError, FileNotFoundError) as error:
        print(f"ctmrfusion: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ctmrfusion: interrupted; no output written.", file=sys.stderr)
        return 130
    _print_summary(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
