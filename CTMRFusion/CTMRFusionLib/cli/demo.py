"""``ctmrfusion demo``: register and fuse the bundled sample pair, report landmark TRE, render the views."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib.cli import register
from CTMRFusionLib.cli.snapshot import render_snapshots
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.fusion.montage import write_fusion_montage
from CTMRFusionLib.io.images import read_image, write_image
from CTMRFusionLib.io.sample_data import ATTRIBUTION, demo_pair
from CTMRFusionLib.registration.options import INTERPOLATORS


def add_parser(commands) -> None:
    demo = commands.add_parser("demo", help="register and fuse the bundled sample pair; report landmark TRE")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--interpolator", choices=INTERPOLATORS, default="sinc")
    demo.add_argument("--quiet", action="store_true")
    demo.add_argument("--no-snapshots", action="store_true", help="skip the PNG snapshots of Slicer's views")


def run(args) -> None:
    pair = demo_pair()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(ATTRIBUTION)
    # Through the register command's own arguments, so the demo gets exactly its defaults.
    parser = argparse.ArgumentParser(prog="ctmrfusion register")
    register.add_arguments(parser)
    namespace = parser.parse_args(
        [
            "--ct",
            str(pair.ct),
            "--mr",
            str(pair.mr),
            "--transform",
            str(out / "mr_to_ct.h5"),
            "--volume",
            str(out / "mr_on_ct.nrrd"),
            "--report",
            str(out / "registration_report.json"),
            "--interpolator",
            args.interpolator,
            "--ct-landmarks",
            str(pair.ct_landmarks),
            "--mr-landmarks",
            str(pair.mr_landmarks),
            *(["--quiet"] if args.quiet else []),
        ]
    )
    report = register.run_registration(namespace)
    print(f"Wrote {namespace.transform}, {namespace.volume} and {namespace.report}")
    _demo_fusion(read_image(pair.ct, "CT"), read_image(namespace.volume, "MR on CT"), out)
    if not args.no_snapshots:
        pictures = render_snapshots(
            read_image(pair.ct, "CT"),
            read_image(pair.mr, "MR"),
            sitk.ReadTransform(namespace.transform),
            out / "snapshots",
        )
        print(f"Wrote {len(pictures)} snapshots of Slicer's views to {out / 'snapshots'}")
    register.print_summary(report)
    register.warn_if_unsure(report)


def _demo_fusion(ct, mr_on_ct, out: Path) -> None:
    """Fuse the registered demo pair with the U-Net (if torch is installed) and the max and GFF rules; write
    the fused volumes and a CT | MR | fused montage of the middle slices."""
    # scipy.ndimage (the rules) only when fusing: every command's start-up imports this module (issue 35)
    from CTMRFusionLib.fusion.pipeline import (  # noqa: PLC0415
        fuse_stacks,
        load_model_for,
        volume_like,
        volumes_on_fusion_scale,
    )

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
