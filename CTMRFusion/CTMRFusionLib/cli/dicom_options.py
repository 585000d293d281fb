"""What ``register`` and ``fuse`` share for DICOM outputs: ``--dicom-out`` and ``--stow`` (where they go, checked
before any work) and the export's warnings. pydicom is imported only when a run writes DICOM (start-up stays as
it was); DICOMweb inputs are :func:`CTMRFusionLib.dicom.series_url.local_paths`."""

from __future__ import annotations

import sys

from CTMRFusionLib.core.commands import WARNING_PREFIX
from CTMRFusionLib.dicom.series_url import check_store_url


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


def print_warnings(summary: dict, stream=None) -> None:
    for warning in summary.get("warnings", []):
        print(f"{WARNING_PREFIX}{warning}", file=stream or sys.stderr)
