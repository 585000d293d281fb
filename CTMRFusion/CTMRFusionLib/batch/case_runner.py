"""One cohort case, as a Dask task: register (and optionally fuse) one CT/MR pair into ``DIR/<id>/``.

Runs on a worker. Inputs are read from their paths (a file system shared with the client), or retrieved from a
DICOMweb server into a private folder for the case's duration; only the case's description and its summary row
travel through the scheduler. The work is the ``ctmrfusion register`` and
``ctmrfusion fuse`` command lines in a child process (:mod:`.child_process`), so a case's transform is exactly
what a direct ``ctmrfusion register`` writes, a crash stays in its case, and the case deadline is enforced.
Anticipated failures become a ``failed`` row; the function raises only on a bug (Dask then retries once).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from CTMRFusionLib import __version__
from CTMRFusionLib.batch.child_process import run_child
from CTMRFusionLib.batch.fingerprint import case_fingerprint, hash_input
from CTMRFusionLib.batch.manifest import CaseSpec
from CTMRFusionLib.batch.thumbnail import blend_planes, write_thumbnail
from CTMRFusionLib.core.commands import ctmrfusion_command, last_error
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.series_url import local_paths
from CTMRFusionLib.io.atomic_files import write_text
from CTMRFusionLib.io.images import read_image

#: File names inside DIR/<id>/.
TRANSFORM = "mr_to_ct.h5"
RESAMPLED_MR = "mr_on_ct.nrrd"
FUSED = "fused.nrrd"
REPORT = "report.json"
THUMBNAIL = "blend.png"
LOG = "log.txt"
#: Written last: the completion record of a finished case (its fingerprint, the run that wrote it, the SHA-256 of
#: each output and its row). A case counts as done only when every output still has the hash its run recorded.
RECORD = "case.json"
#: Statuses of a case whose outputs are complete: "review" is a registration of low confidence (see its report).
FINISHED = ("ok", "review")
#: The summary's columns, in order.
ROW_FIELDS = (
    "id",
    "status",
    "error",
    "confidence",
    "review_reasons",
    "tre_before_mm",
    "tre_after_mm",
    "metric",
    "seconds",
    "peak_memory_mb",
    "worker",
    "preset",
    "initializer",
    "run",
)


@dataclass(frozen=True)
class BatchSettings:
    """What every case shares. preset: default preset (a row may override); fuse: fusion method or None;
    interpolator: final resample; case_timeout_s: wall-clock limit per case in seconds (None: none); stow: the
    DICOMweb base URL that receives each case's DICOM outputs (None: none); run: this batch run's id, named in
    the completion record of every case it computes (not part of the fingerprint)."""

    preset: str = "default"
    fuse: str | None = None
    interpolator: str = "sinc"
    case_timeout_s: float | None = None
    stow: str | None = None
    run: str = ""

    def for_case(self, case: CaseSpec) -> dict:
        """The settings that decide this case's outputs (part of its fingerprint)."""
        preset = case.preset or self.preset
        return {
            "ctmrfusion_version": __version__,
            "preset": preset,
            # A preset file counts by its content: editing it recomputes the cases that use it.
            "preset_sha256": hash_input(preset) if preset.lower().endswith(".json") else None,
            "initializer": case.initializer,
            "fuse": self.fuse,
            "interpolator": self.interpolator,
            "stow": self.stow,
        }


def outputs(folder: Path, settings: BatchSettings) -> list[Path]:
    """The files a finished case has in ``folder``."""
    names = [TRANSFORM, RESAMPLED_MR, REPORT, THUMBNAIL] + ([FUSED] if settings.fuse else [])
    return [folder / name for name in names]


def run_case(case: CaseSpec, out_dir, settings: BatchSettings, threads: int = 1) -> dict:
    """Compute (or reuse) ``case`` in ``out_dir/<id>/``; return its summary row (see :data:`ROW_FIELDS`).

    ``threads``: ITK/torch threads for this case. A case whose outputs exist with an equal fingerprint is not
    recomputed: its earlier row comes back with status ``skipped`` (``review`` stays ``review``).
    """
    started = time.monotonic()
    folder = Path(out_dir) / case.id
    row = dict.fromkeys(ROW_FIELDS)
    case_settings = settings.for_case(case)
    row.update(id=case.id, worker=_worker_name(), preset=case_settings["preset"], initializer=case.initializer)
    row["run"] = settings.run
    try:
        with ExitStack() as stack:
            return _compute(_local(case, stack), folder, settings, case_settings, threads, started, row)
    except (InvalidInputError, OSError, RuntimeError, ValueError, KeyError) as error:  # CaseFailed, SimpleITK too
        row.update(status="failed", error=str(error) or type(error).__name__, seconds=time.monotonic() - started)
        return row


def _local(case: CaseSpec, stack: ExitStack) -> CaseSpec:
    """``case`` with each DICOMweb input retrieved into a private folder that ``stack`` removes."""
    local = local_paths(stack, {"CT": case.ct, "MR": case.mr})
    return replace(case, ct=local["CT"], mr=local["MR"])


def _compute(case: CaseSpec, folder: Path, settings, case_settings: dict, threads: int, started: float, row) -> dict:
    """The case's work, its inputs local: fingerprint, skip or register (and fuse); the finished row."""
    inputs = {"ct": case.ct, "mr": case.mr, "ct_landmarks": case.ct_landmarks, "mr_landmarks": case.mr_landmarks}
    # The case's time limit starts now: reading and hashing its inputs count too.
    deadline = started + settings.case_timeout_s if settings.case_timeout_s else None
    fingerprint = case_fingerprint(inputs, case_settings, deadline)
    previous = _finished_row(folder, fingerprint, settings)
    if previous is not None:
        # Not recomputed: "skipped", except that a result to review stays "review" (a rerun never hides it).
        status = "review" if previous.get("status") == "review" else "skipped"
        return {**previous, "id": case.id, "status": status, "worker": row["worker"]}  # the manifest's id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).unlink(missing_ok=True)
    (folder / LOG).write_text("")
    peaks = [_run(case, folder, "register", _register_arguments(case, folder, case_settings), threads, deadline)]
    if settings.fuse:
        fuse_arguments = ["--ct", case.ct, "--mr", str(folder / RESAMPLED_MR), "--output", str(folder / FUSED)]
        fuse_arguments += ["--method", settings.fuse, "--device", "cpu", "--quiet"]
        fuse_arguments += ["--stow", settings.stow] if settings.stow else []
        peaks.append(_run(case, folder, "fuse", fuse_arguments, threads, deadline))
    ct = read_image(case.ct, "CT")
    write_thumbnail(blend_planes(ct, read_image(folder / RESAMPLED_MR, "resampled MR")), folder / THUMBNAIL)
    report = json.loads((folder / REPORT).read_text())
    confidence = report.get("confidence") or {}
    row.update(
        status="review" if confidence.get("level") == "low" else "ok",
        confidence=confidence.get("level"),
        review_reasons="; ".join(confidence.get("reasons", [])) or None,
        metric=report.get("metric"),
        peak_memory_mb=_max(peaks),
    )
    if "tre" in report:
        row.update(tre_before_mm=report["tre"]["before"]["mean_mm"], tre_after_mm=report["tre"]["after"]["mean_mm"])
    row["seconds"] = time.monotonic() - started
    record = {"fingerprint": fingerprint, "run": settings.run, "outputs": _output_hashes(folder, settings), "row": row}
    write_text(folder / RECORD, json.dumps(record, indent=2))
    return row


class CaseFailed(RuntimeError):
    """A step of the case ended without its outputs; the message says which step and why."""


def _register_arguments(case: CaseSpec, folder: Path, case_settings: dict) -> list[str]:
    arguments = ["--ct", case.ct, "--mr", case.mr, "--transform", str(folder / TRANSFORM)]
    arguments += ["--volume", str(folder / RESAMPLED_MR), "--report", str(folder / REPORT)]
    arguments += ["--preset", case_settings["preset"], "--interpolator", case_settings["interpolator"], "--quiet"]
    if case.initializer:
        arguments += ["--initializer", case.initializer]
    if case_settings["stow"]:
        arguments += ["--stow", case_settings["stow"]]
    if case.ct_landmarks:
        arguments += ["--ct-landmarks", case.ct_landmarks, "--mr-landmarks", case.mr_landmarks]
    return arguments


def _run(case: CaseSpec, folder: Path, subcommand: str, arguments: list[str], threads: int, deadline) -> float | None:
    """Run one subcommand for ``case``; its peak memory (MB), or :class:`CaseFailed` with the reason."""
    result = run_child(ctmrfusion_command(subcommand, arguments), folder / LOG, threads, deadline)
    if result.timed_out:
        raise CaseFailed(f"{subcommand}: timed out (case limit reached after {result.seconds:.0f} s)")
    if result.returncode < 0:
        raise CaseFailed(f"{subcommand}: crashed (signal {-result.returncode}); see {folder / LOG}")
    if result.returncode != 0:
        lines = (folder / LOG).read_text(errors="replace").splitlines()
        raise CaseFailed(f"{subcommand}: {last_error(lines, 'failed without a message')[:300]}")
    return result.peak_mb


def _output_hashes(folder: Path, settings: BatchSettings) -> dict[str, str]:
    """SHA-256 of each output of the case, by file name."""
    return {path.name: hash_input(path) for path in outputs(folder, settings)}


def _finished_row(folder: Path, fingerprint: str, settings: BatchSettings) -> dict | None:
    """The row recorded by an earlier run of the same inputs and settings, if its record names that run and every
    output is still the file that run wrote (a file rewritten since, for instance by a process of a killed run,
    or missing, makes the case unfinished)."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint or not record.get("run"):
        return None
    try:
        if record.get("outputs") != _output_hashes(folder, settings):
            return None
    except OSError:  # an output is missing or unreadable
        return None
    row = record.get("row")
    return row if isinstance(row, dict) and row.get("status") in FINISHED else None


def _max(values) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _worker_name() -> str:
    try:
        from distributed import get_worker  # noqa: PLC0415 - only inside a Dask worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"
