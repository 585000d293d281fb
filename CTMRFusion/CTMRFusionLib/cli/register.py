"""``ctmrfusion register``: rigid registration of an MR (moving) onto a CT (fixed), from files to files.

The transform written is an ITK transform file in LPS that maps CT (fixed) points to MR (moving) points:
``sitk.Resample(mr, ct, sitk.ReadTransform(path))`` puts the MR on the CT, and Slicer loads the file as the
transform that moves the MR onto the CT.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib import __version__
from CTMRFusionLib.cli.dicom_options import (
    add_dicom_output_arguments,
    check_dicom_destinations,
    print_warnings,
    wants_dicom,
)
from CTMRFusionLib.cli.terminal_progress import add_progress_arguments, progress_for
from CTMRFusionLib.core.commands import STRICT_EXIT_CODE, WARNING_PREFIX
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.series_url import local_paths, shown
from CTMRFusionLib.imaging.resampling import resample_onto
from CTMRFusionLib.io.atomic_files import write_text
from CTMRFusionLib.io.images import SERIES_UID_KEY, read_image, read_transform, write_image, write_transform
from CTMRFusionLib.io.landmark_files import LandmarkError, read_landmarks
from CTMRFusionLib.io.output_paths import check_outputs
from CTMRFusionLib.ml.torchscript import sha256_of
from CTMRFusionLib.registration.options import INITIALIZERS, INTERPOLATORS, RegistrationOptions, preset_names
from CTMRFusionLib.registration.rigid import register_rigid
from CTMRFusionLib.registration.tre import match_landmarks, summary_line, target_registration_error

REGISTER_EPILOG = """\
The transform file (--transform, .h5 or .tfm) is an ITK transform in LPS mm that maps CT (fixed) points
to MR (moving) points, so that sitk.Resample(mr, ct, sitk.ReadTransform(FILE)) puts the MR on the CT grid.
Slicer reads the same file as the transform that shows the MR aligned on the CT.
"""


def add_arguments(parser) -> None:
    """The register command's arguments (also parsed by ``demo``, so both share the defaults)."""
    parser.add_argument(
        "--ct", required=True, help="CT (fixed): image file, DICOM folder or DICOMweb series URL (…/studies/S/series/R)"
    )
    parser.add_argument("--mr", required=True, help="MR (moving): image file, DICOM folder or DICOMweb series URL")
    parser.add_argument(
        "--series",
        action="append",
        default=[],
        metavar="UID",
        help="DICOM series instance UID to read from a folder holding several (repeat for CT and MR)",
    )
    parser.add_argument("--transform", required=True, help="output ITK transform (.h5/.tfm), CT→MR points, LPS")
    parser.add_argument("--volume", help="output: MR resampled on the CT grid (e.g. .nrrd, .nii.gz)")
    parser.add_argument("--report", help="output JSON report: parameters, metric, iterations, timings, TRE")
    add_dicom_output_arguments(
        parser, "the registration as a DICOM Spatial Registration object and the MR on the CT grid"
    )
    parser.add_argument(
        "--interpolator",
        choices=INTERPOLATORS,
        default="sinc",
        help="interpolator of the final resample (default: sinc = Hamming-windowed sinc)",
    )
    parser.add_argument(
        "--preset",
        default="default",
        help=f"registration preset: {', '.join(preset_names())} (default: default), or a user preset JSON file",
    )
    parser.add_argument(
        "--initializer",
        choices=INITIALIZERS,
        help="initial alignment (default: search; deep: the registration network, needs torch)",
    )
    parser.add_argument(
        "--initial-transform",
        help="start from this ITK transform file (CT→MR, LPS) instead of an initializer; with "
        "--initializer deep the network corrects it",
    )
    parser.add_argument("--deep-model", help="TorchScript registration network to use instead of the shipped one")
    parser.add_argument("--device", default="auto", help="deep initializer device: auto (GPU if available), cpu, cuda")
    parser.add_argument("--ct-mask", help="optional CT mask image (non-zero = use)")
    parser.add_argument("--mr-mask", help="optional MR mask image (non-zero = use)")
    parser.add_argument("--ct-landmarks", help="CT landmarks (.mrk.json, .fcsv, .csv in LPS)")
    parser.add_argument("--mr-landmarks", help="MR landmarks, paired with the CT ones")
    parser.add_argument("--pairing", choices=("label", "order"), default="label", help="landmark pairing")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for ITK and the finest level's metric (default: ITK's, the cores; "
        "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS also sets it)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with code 3 when the result's confidence is low (the outputs are written all the same)",
    )
    add_progress_arguments(parser)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "register",
        help="rigidly register an MR onto a CT",
        epilog=REGISTER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)


def _options(args) -> RegistrationOptions:
    options = RegistrationOptions.from_preset(args.preset)
    changes = {"final_interpolator": args.interpolator}
    if args.initializer:
        changes["initializer"] = args.initializer
    if options.deep_model and str(options.deep_model) != str(args.deep_model or ""):
        # A data file never chooses code to run: the model a preset names runs only when the command line names it.
        raise InvalidInputError(
            f"the preset {args.preset} names the registration model {options.deep_model}; a preset cannot choose a "
            "model to run: give the same path with --deep-model to use it"
        )
    if args.deep_model:
        if (args.initializer or options.initializer) != "deep":
            raise InvalidInputError("--deep-model is only used with --initializer deep.")
        changes["deep_model"] = args.deep_model
    changes["deep_device"] = args.device
    return options.replace(**changes)


def run_registration(args) -> dict:
    """Register the files named in ``args``; write the outputs; return the report dictionary."""
    with ExitStack() as stack:
        return _register(args, stack)


def _register(args, stack: ExitStack) -> dict:
    inputs = [
        args.ct,
        args.mr,
        args.ct_mask,
        args.mr_mask,
        args.ct_landmarks,
        args.mr_landmarks,
        args.initial_transform,
        args.deep_model,
        args.preset if Path(args.preset).is_file() else None,  # a user's preset file is an input too
    ]
    if args.threads is not None:
        if not 1 <= args.threads <= 1024:
            raise InvalidInputError(f"--threads must be from 1 to 1024, got {args.threads}.")
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    check_outputs({"--transform": args.transform, "--volume": args.volume, "--report": args.report}, inputs)
    if bool(args.ct_landmarks) != bool(args.mr_landmarks):
        raise LandmarkError("Give both --ct-landmarks and --mr-landmarks, or neither.")
    options = _options(args)
    progress = progress_for(args)
    dicom_export = None
    check_dicom_destinations(args, [args.transform, args.volume, args.report])

    started = time.perf_counter()
    paths = local_paths(stack, {"CT": args.ct, "MR": args.mr})  # a DICOMweb series is retrieved first
    if wants_dicom(args):  # both inputs must be DICOM series: the outputs join the CT's study and frame
        from CTMRFusionLib.dicom.export import read_registration_sources  # noqa: PLC0415 — pydicom when asked

        dicom_export = read_registration_sources(paths["CT"], paths["MR"], args.series)
    ct = read_image(paths["CT"], "CT", args.series)
    mr = read_image(paths["MR"], "MR", args.series)
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
        "inputs": {
            "ct": shown(str(args.ct)),
            "mr": shown(str(args.mr)),
            **{
                f"{role}_series_uid": image.GetMetaData(SERIES_UID_KEY)
                for role, image in (("ct", ct), ("mr", mr))
                if image.HasMetaDataKey(SERIES_UID_KEY)
            },
        },
        "transform_convention": "ITK, LPS mm, maps CT (fixed) points to MR (moving) points",
        "options": options.to_dict(),
        # Results are bit-identical for the same inputs, options and thread count (docs/registration.md).
        "itk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        **result.to_dict(),
    }
    report["timings_seconds"]["read"] = read_seconds
    if options.deep_model:  # a model the user chose: which file ran, by content
        report["deep_model"] = {"path": str(options.deep_model), "sha256": sha256_of(options.deep_model)}
    if landmarks is not None:
        report["tre"] = target_registration_error(result.transform, *landmarks, by=args.pairing).to_dict()
    resampled = None
    if args.volume or dicom_export:
        tick = time.perf_counter()
        resampled = resample_onto(mr, ct, result.transform, args.interpolator, progress=progress)
        report["timings_seconds"]["resample"] = time.perf_counter() - tick
    if args.volume:
        write_image(resampled, args.volume)
    write_transform(result.transform, args.transform)
    if dicom_export:
        tick = time.perf_counter()
        report["dicom"] = export_registration(args, dicom_export, ct, mr, result.transform, resampled)
        report["timings_seconds"]["dicom"] = time.perf_counter() - tick
    if args.report:
        write_text(args.report, json.dumps(strict_json(report), indent=2, allow_nan=False))
    return report


def export_registration(args, sources, ct, mr, transform, resampled) -> dict:
    """Write the REG and the resampled MR series to ``--dicom-out`` and/or ``--stow``; what the report says."""
    from CTMRFusionLib.dicom.export import deliver, registration_outputs  # noqa: PLC0415 — pydicom, requests

    return deliver(registration_outputs(*sources, ct, mr, transform, resampled, args.interpolator), args)


def strict_json(value):
    """``value`` with every non-finite float (NaN, ±Infinity, which strict JSON has no word for) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def warn_if_unsure(report: dict, stream=None) -> bool:
    """Print one ``ctmrfusion: warning:`` line (to ``stream``, default the current stderr) when the report's
    confidence is low; whether it was low."""
    confidence = report.get("confidence") or {}
    if confidence.get("level") != "low":
        return False
    reasons = "; ".join(confidence["reasons"])
    print(f"{WARNING_PREFIX}low confidence in this registration: {reasons}", file=stream or sys.stderr)
    return True


def print_summary(report: dict, stream=None) -> None:
    """The result in two lines, to ``stream`` (default: the current stdout)."""
    stream = stream or sys.stdout
    parameters = report["parameters"]
    angles = ", ".join(f"{a:.4f}" for a in parameters["angles_rad"])
    translation = ", ".join(f"{t:.2f}" for t in parameters["translation_mm"])
    print(
        f"Metric (Mattes MI): {report['metric']:.4f} after {report['iterations']} iterations, "
        f"{report['elapsed_seconds']:.1f} s",
        file=stream,
    )
    print(f"Angles (rad, LPS x/y/z): {angles}; translation (mm, LPS): {translation}", file=stream)
    if "deep_model" in report:
        model = report["deep_model"]
        print(f"Registration model: {model['path']}, SHA-256 {model['sha256']}", file=stream)
    if "tre" in report:
        print(f"Landmark TRE {summary_line(report['tre']['before'], report['tre']['after'])}", file=stream)


def run(args) -> int:
    report = run_registration(args)
    print_summary(report)
    print_warnings(report.get("dicom", {}))
    unsure = warn_if_unsure(report)
    return STRICT_EXIT_CODE if unsure and args.strict else 0
