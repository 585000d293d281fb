"""What ``register`` and ``fuse`` share for DICOM: ``--dicom-out`` and ``--stow`` (where DICOM outputs go, checked
before any work), inputs given as DICOMweb series URLs (retrieved into private folders) and the export's
warnings. pydicom and the HTTP stack are imported only when a run uses them (start-up stays as it was)."""

from __future__ import annotations

import sys
from contextlib import ExitStack

from CTMRFusionLib.core.commands import WARNING_PREFIX
from CTMRFusionLib.dicom.series_url import check_store_url, is_url


def add_dicom_output_arguments(parser, what: str) -> None:
    """``--dicom-out DIR`` and ``--stow URL``; ``what``: the DICOM outputs, as the help names them."""
    parser.add_argument(
        "--dicom-out",
        metavar="DIR",
        help=f"output folder (new or empty): {what}, in the CT's study and frame of reference (inputs read from DICOM)",
    )
    parser.add_argument(
        "--stow",
        metavar="URL",
        help="store those DICOM outputs on a DICOMweb server (STOW-RS), e.g. http://pacs:8042/dicom-web",
    )


def wants_dicom(args) -> bool:
    return bool(args.dicom_out or args.stow)


def check_dicom_destinations(args, other_outputs) -> None:
    """Refuse now, not after the work: a used or unwritable folder, one the other outputs go into, a bad URL."""
    if args.stow:
        check_store_url(args.stow)
    if args.dicom_out:
        from CTMRFusionLib.dicom.output_folder import check_output_folder  # noqa: PLC0415 — pydicom when asked

        check_output_folder(args.dicom_out, other_outputs)


def local_paths(stack: ExitStack, inputs: dict) -> dict:
    """``inputs`` (role → path or URL) with each DICOMweb series retrieved into a private folder (see
    :func:`CTMRFusionLib.dicom.dicomweb.local_inputs`)."""
    if not any(is_url(value) for value in inputs.values()):
        return dict(inputs)
    from CTMRFusionLib.dicom.dicomweb import local_inputs  # noqa: PLC0415 — an HTTP stack when a URL is given

    return local_inputs(stack, inputs)


def print_warnings(summary: dict, stream=None) -> None:
    for warning in summary.get("warnings", []):
        print(f"{WARNING_PREFIX}{warning}", file=stream or sys.stderr)
