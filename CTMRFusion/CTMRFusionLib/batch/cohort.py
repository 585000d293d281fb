"""``run_batch``: register (and optionally fuse) every case of a manifest on Dask; the Python face of
``ctmrfusion batch``, callable from the Slicer Python console on files.

One Dask task per case (:func:`~CTMRFusionLib.batch.case_runner.run_case`); the client only submits case
descriptions and collects summary rows, rewriting ``summary.csv``, ``summary.json`` and ``index.html`` as cases
finish, so an interrupted cohort keeps what it finished and a rerun skips it.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from CTMRFusionLib.batch import cluster
from CTMRFusionLib.batch.case_runner import RECORD, ROW_FIELDS, BatchSettings, outputs, run_case
from CTMRFusionLib.batch.manifest import CaseSpec, ManifestError, read_manifest
from CTMRFusionLib.batch.report_page import write_report_page
from CTMRFusionLib.batch.summary import counts, write_summary
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.series_url import check_store_url, is_url
from CTMRFusionLib.fusion.methods import METHODS
from CTMRFusionLib.io.companion_files import companion_files
from CTMRFusionLib.registration.options import INTERPOLATORS, resolve_preset

#: How often the progress line is refreshed while no case finishes, in seconds.
REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class BatchProgress:
    """Where a cohort stands: cases finished (ok + skipped + failed), failed, running now, total; eta_s: the
    estimated seconds left (None until a case has been computed)."""

    finished: int
    failed: int
    running: int
    total: int
    eta_s: float | None

    def line(self) -> str:
        eta = "" if self.eta_s is None else f", ETA {_duration(self.eta_s)}"
        return f"batch: {self.finished}/{self.total} done ({self.failed} failed), {self.running} running{eta}"


@dataclass
class BatchResult:
    """The rows (manifest order), the output folder, and the local cluster's dashboard address (if one ran)."""

    rows: list[dict]
    out_dir: Path
    dashboard: str | None = None
    counts: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every case is ok, review (a registration of low confidence, to be checked) or skipped, 1 when
        some failed."""
        return 1 if self.counts.get("failed") else 0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def check_outputs_are_not_inputs(manifest, cases: list[CaseSpec], out_dir: Path, settings: BatchSettings) -> None:
    """Refuse a cohort whose outputs (any case's files, the summaries) would replace or go into one of its inputs
    (the manifest, an image with its companion files, a landmark file, a DICOM folder)."""
    produced = {p.resolve() for p in (out_dir / "summary.csv", out_dir / "summary.json", out_dir / "index.html")}
    if Path(manifest).resolve() in produced:
        raise ManifestError(f"manifest {manifest} is where the batch writes its summary; use another --out")
    for case in cases:
        folder = out_dir / case.id
        produced |= {p.resolve() for p in [*outputs(folder, settings), folder / RECORD, folder / "log.txt"]}
    for case in cases:
        for role in ("ct", "mr", "ct_landmarks", "mr_landmarks"):
            path = getattr(case, role)
            if not path or is_url(path):  # a DICOMweb series: retrieved into a private folder, never written
                continue
            path = Path(path)
            names = [path, *companion_files(path)] if path.is_file() else [path]
            for name in names:
                target = name.resolve()
                if any(target == p or p.is_relative_to(target) for p in produced):
                    problem = f"the batch would write into its {role} {path}"
                    raise ManifestError(f"case {case.id}: {problem}; use another --out")


#: The lock file in ``--out`` that one batch holds while it writes there (case ids cannot start with a dot).
LOCK_NAME = ".ctmrfusion-batch.lock"


def hold_output_lock(out_dir: Path):
    """An exclusive lock on ``out_dir`` for this process (released when the returned file is closed, or when the
    process ends, however it ends); :class:`InvalidInputError` when another batch holds it."""
    handle = open(out_dir / LOCK_NAME, "a+")
    try:
        if sys.platform == "win32":
            import msvcrt  # noqa: PLC0415 — Windows only

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl  # noqa: PLC0415 — POSIX only

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InvalidInputError(
            f"--out {out_dir}: another batch is writing there; wait for it or choose another folder"
        ) from None
    return handle


def new_run_id() -> str:
    """A batch run's id: its UTC start time and a random part, e.g. ``20261206T202241Z-1a2b3c4d``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def run_batch(
    manifest,
    out_dir,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    preset: str = "default",
    fuse: str | None = None,
    interpolator: str = "sinc",
    case_timeout_s: float | None = None,
    stow: str | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    on_engine: Callable[[cluster.Engine], None] | None = None,
) -> BatchResult:
    """Run every case of ``manifest`` (CSV, see :mod:`.manifest`) into ``out_dir/<id>/``.

    ``scheduler``: address of an existing Dask scheduler; None starts a LocalCluster of ``workers`` processes ×
    ``threads_per_worker``. ``preset``: default registration preset (rows may override); ``fuse``: a fusion
    method for each registered pair, or None; ``case_timeout_s``: wall-clock limit per case (s); ``stow``: a
    DICOMweb base URL that receives each case's DICOM outputs (STOW-RS; the case's inputs must be DICOM). Raises
    :class:`ManifestError` (or InvalidInputError) before any work when the manifest or the options are bad.
    """
    cases = read_manifest(manifest)
    try:
        preset = resolve_preset(preset)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    if fuse is not None and fuse not in METHODS:
        raise InvalidInputError(f"unknown fusion method {fuse!r}; known: {', '.join(METHODS)}")
    if interpolator not in INTERPOLATORS:
        raise InvalidInputError(f"unknown interpolator {interpolator!r}; known: {', '.join(INTERPOLATORS)}")
    if case_timeout_s is not None and not case_timeout_s > 0:
        raise InvalidInputError(f"--case-timeout must be positive, got {case_timeout_s}")
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"--out {out_dir} is a file, not a folder")
    if stow is not None:
        stow = check_store_url(stow)
    settings = BatchSettings(
        preset=preset, fuse=fuse, interpolator=interpolator, case_timeout_s=case_timeout_s, stow=stow, run=new_run_id()
    )
    check_outputs_are_not_inputs(manifest, cases, out_dir, settings)

    out_dir.mkdir(parents=True, exist_ok=True)
    lock = hold_output_lock(out_dir)
    engine = cluster.start(scheduler, workers, threads_per_worker)
    try:
        if on_engine is not None:
            on_engine(engine)
        rows = _run_cases(engine.client, cases, out_dir, settings, progress)
    finally:
        engine.close()
        lock.close()
    return BatchResult(rows, out_dir, engine.dashboard, counts(rows))


def case_task(case: CaseSpec, out_dir: str, settings: BatchSettings, threads: dict) -> dict:
    """The Dask task: :func:`run_case` with the thread count planned for the worker it landed on."""
    from distributed import get_worker  # noqa: PLC0415 - runs on a Dask worker only

    return run_case(case, out_dir, settings, threads.get(get_worker().address, 1))


def _run_cases(client, cases, out_dir: Path, settings: BatchSettings, progress) -> list[dict]:
    from distributed import wait  # noqa: PLC0415 - the batch engine is optional for the rest of the package

    threads = cluster.threads_per_case(client)
    slots = max(1, sum(info["nthreads"] for info in client.scheduler_info(n_workers=-1)["workers"].values()))
    futures = {
        client.submit(
            case_task, case, str(out_dir), settings, threads, key=f"ctmrfusion-{case.id}-{settings.run}", retries=1
        ): index
        for index, case in enumerate(cases)
    }
    rows: list[dict | None] = [None] * len(cases)
    summary_settings = {**settings.__dict__, "cases": len(cases)}
    started, computed_seconds = time.monotonic(), []
    pending = set(futures)
    while pending:
        try:
            done, pending = wait(pending, timeout=REFRESH_SECONDS, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        for future in done:
            index = futures[future]
            rows[index] = _row_of(future, cases[index])
            if rows[index]["status"] != "skipped":
                computed_seconds.append(time.monotonic() - started)
        if done:
            finished = [row for row in rows if row is not None]
            write_summary(finished, out_dir, summary_settings)
            write_report_page(finished, out_dir)
        if progress is not None:
            progress(_progress(client, rows, pending, slots, started, computed_seconds))
    return rows


def _row_of(future, case: CaseSpec) -> dict:
    """The task's row, or a failed row when the task itself failed (its worker died twice, or a bug)."""
    if future.status == "finished":
        return future.result()
    error = future.exception()
    row = dict.fromkeys(ROW_FIELDS)
    row.update(id=case.id, status="failed", error=f"{type(error).__name__}: {error}"[:300])
    return row


def _progress(client, rows, pending, slots, started, computed_seconds) -> BatchProgress:
    """``slots``: the cluster's task slots (the scheduler may queue more tasks on a worker than it runs)."""
    keys = {future.key for future in pending}
    try:
        running = sum(len(keys.intersection(tasks)) for tasks in client.processing().values())
    except (OSError, TimeoutError):
        running = 0
    finished = sum(row is not None for row in rows)
    failed = sum(row is not None and row["status"] == "failed" for row in rows)
    eta = None
    if computed_seconds:
        rate = len(computed_seconds) / max(time.monotonic() - started, 1e-6)
        eta = (len(rows) - finished) / rate
    return BatchProgress(finished, failed, min(running, len(pending), slots), len(rows), eta)
