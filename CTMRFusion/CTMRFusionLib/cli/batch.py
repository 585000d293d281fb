"""``ctmrfusion batch``: register (and optionally fuse) a cohort of CT/MR pairs from a manifest on Dask.

Exit codes: 0 when every case is ok (or skipped: already done with the same inputs and options), 1 when some
case failed (``summary.csv`` says which and why), 2 for a bad manifest or option, found before any work.
"""

from __future__ import annotations

import argparse
import sys

from CTMRFusionLib.batch.cohort import BatchProgress, run_batch
from CTMRFusionLib.fusion.methods import METHODS
from CTMRFusionLib.registration.options import INTERPOLATORS, preset_names

BATCH_EPILOG = """\
The manifest is CSV with the columns id,ct,mr, optionally ct_landmarks,mr_landmarks (both or neither) and
per-row preset and initializer. Paths are relative to the manifest's folder; ct and mr may also be DICOMweb
series URLs (http(s)://HOST/BASE/studies/<UID>/series/<UID>). Each case writes DIR/<id>/:
mr_to_ct.h5 (ITK transform, LPS, CT points to MR points, as `register` writes it), mr_on_ct.nrrd (the MR
resampled on the CT), fused.nrrd (with --fuse), report.json (as `register --report`), blend.png, log.txt.
DIR/summary.csv and DIR/summary.json hold one row per case; open DIR/index.html first.
A rerun skips every case whose outputs exist for the same input contents and options.
--stow URL also stores each case's DICOM outputs (Spatial Registration, MR on CT, fused) on that DICOMweb
server; the case's CT and MR must then be DICOM series (folders or URLs).
"""


class ProgressLine:
    """The cohort's progress on stderr: rewritten in place on a terminal, one line per finished case otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream = stream or sys.stderr  # the current stderr, not the one at import
        self.interactive = stream.isatty()
        self.last_finished = -1

    def __call__(self, state: BatchProgress) -> None:
        if self.interactive:
            print("\r" + state.line().ljust(78), end="", file=self.stream, flush=True)
            if state.finished == state.total:
                print(file=self.stream)
        elif state.finished != self.last_finished:
            print(state.line(), file=self.stream, flush=True)
        self.last_finished = state.finished


def add_parser(commands) -> None:
    batch = commands.add_parser(
        "batch",
        help="register (and fuse) a cohort of pairs from a manifest, on a Dask cluster",
        epilog=BATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("--manifest", required=True, help="CSV manifest: id,ct,mr[,ct_landmarks,mr_landmarks,…]")
    batch.add_argument("--out", required=True, help="output folder: DIR/<id>/ per case, summary, index.html")
    batch.add_argument("--scheduler", help="address of an existing Dask scheduler (default: start a local cluster)")
    batch.add_argument(
        "--workers", type=_count("--workers"), help="local cluster: worker processes (default: cores ÷ 2)"
    )
    batch.add_argument(
        "--threads-per-worker",
        type=_count("--threads-per-worker"),
        help="local cluster: cases at once per worker (default 1)",
    )
    batch.add_argument(
        "--preset",
        default="default",
        help=f"registration preset: {', '.join(preset_names())} (default: default), or a JSON preset file",
    )
    batch.add_argument("--fuse", choices=METHODS, help="also fuse each registered pair with this method")
    batch.add_argument("--interpolator", choices=INTERPOLATORS, default="sinc", help="final resample (default sinc)")
    batch.add_argument("--case-timeout", type=float, help="seconds a case may take before it is stopped and failed")
    batch.add_argument(
        "--stow",
        metavar="URL",
        help="store each case's DICOM outputs (registration, MR on CT, fused) on this DICOMweb server (STOW-RS)",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress line")


#: More local worker processes (or threads per worker) than this is a typing error, not a cluster.
MAX_LOCAL_COUNT = 256


def _count(option: str):
    """argparse type: a whole number from 1 to :data:`MAX_LOCAL_COUNT` (0 is not "the default")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be a whole number, not {text!r}") from None
        if not 1 <= value <= MAX_LOCAL_COUNT:
            raise argparse.ArgumentTypeError(f"{option} must be from 1 to {MAX_LOCAL_COUNT}, not {value}")
        return value

    return parse


def run(args) -> int:
    def announce(engine) -> None:
        where = f"local cluster, dashboard {engine.dashboard}" if engine.dashboard else f"scheduler {args.scheduler}"
        print(f"batch: running on the {where}", file=sys.stderr, flush=True)

    result = run_batch(
        args.manifest,
        args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        preset=args.preset,
        fuse=args.fuse,
        interpolator=args.interpolator,
        case_timeout_s=args.case_timeout,
        stow=args.stow,
        progress=None if args.quiet else ProgressLine(),
        on_engine=announce,
    )
    tally = ", ".join(f"{n} {status}" for status, n in result.counts.items())
    print(f"batch: {len(result.rows)} cases: {tally}. Report: {result.out_dir / 'index.html'}")
    for row in result.rows:
        if row["status"] == "failed":
            print(f"  failed {row['id']}: {row['error']}")
    return result.exit_code
