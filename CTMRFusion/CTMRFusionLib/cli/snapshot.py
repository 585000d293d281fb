"""``ctmrfusion snapshot``: Slicer's own slice views (blend, checkerboard) and 3D view of a pair, as PNGs."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib.core.checks import check_volume
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.imaging.resampling import resample_onto
from CTMRFusionLib.io.images import read_image, read_transform
from CTMRFusionLib.io.output_paths import check_outputs


def add_parser(commands) -> None:
    snapshot = commands.add_parser(
        "snapshot", help="render Slicer's slice views (blend, checkerboard) and 3D view of a CT/MR pair to PNGs"
    )
    snapshot.add_argument("--ct", required=True, help="CT image file or DICOM folder")
    snapshot.add_argument("--mr", required=True, help="MR image file or DICOM folder")
    snapshot.add_argument(
        "--transform",
        help="CT→MR transform (ITK file, as written by register); without it the MR is taken where its header puts it",
    )
    snapshot.add_argument("--out", required=True, help="output folder for the PNGs")
    snapshot.add_argument("--opacity", type=float, default=0.5, help="MR opacity in the blend (0-1)")
    snapshot.add_argument("--square-mm", type=float, default=20.0, help="checkerboard square side (mm)")


def render_snapshots(ct, mr, transform, out_dir, opacity=0.5, square_mm=20.0) -> dict:
    """Resample the MR on the CT grid through ``transform`` and render the PNGs; {name: path}."""
    try:
        from CTMRFusionLib.mrml.snapshots import render_fusion_snapshots  # noqa: PLC0415 — needs slicer-core
    except ImportError as error:
        raise InvalidInputError(
            f"Snapshots need slicer-core and trame-slicer (pip install 'ctmrfusion[slicer]'): {error}"
        ) from error
    mr_on_ct = resample_onto(mr, ct, transform, "linear")
    return render_fusion_snapshots(ct, mr_on_ct, out_dir, opacity, square_mm)


def run(args) -> None:
    if not 0.0 <= args.opacity <= 1.0:
        raise InvalidInputError(f"--opacity must be between 0 and 1, got {args.opacity}.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file; give a folder for the PNGs")
    check_outputs({"--out": out / "blend_axial.png"}, [args.ct, args.mr, args.transform])
    if not args.square_mm > 0:
        raise InvalidInputError(f"--square-mm must be positive, got {args.square_mm}.")
    ct, mr = read_image(args.ct, "CT"), read_image(args.mr, "MR")
    check_volume(ct, "CT")
    check_volume(mr, "MR")
    transform = read_transform(args.transform) if args.transform else sitk.Transform()
    for name, path in render_snapshots(ct, mr, transform, args.out, args.opacity, args.square_mm).items():
        print(f"{name}: {path}")
