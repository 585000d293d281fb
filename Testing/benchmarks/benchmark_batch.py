"""Benchmark: cohort throughput of ``ctmrfusion batch`` on Dask, beside a serial loop of ``ctmrfusion register``.

The cohort: the 7 shared Harvard stacks (1 × 1 × 5 mm), each unmoved and under 3 seeded rigid moves (landmarks
from the known move), and the MRI-DIR sample pair (bundled, with its landmarks): 29 cases. The same cohort runs
as a serial loop of ``ctmrfusion register`` calls (one after the other, ITK using every core), and as a batch on a
LocalCluster with 1 worker and with 2 workers (1 task slot each, so workers × threads = cores). Printed: wall
time, cases/minute, per-case peak memory, the speed-up over the loop, and an estimate for 500 cases on N nodes.
All runs use the default preset and the same machine in the same script.

Usage (from the repository root):
    PYTHONPATH=Testing .venv/bin/python Testing/benchmarks/benchmark_batch.py [--moves 3] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from CTMRFusionLib.batch.cluster import available_cores
from CTMRFusionLib.io.sample_data import demo_pair
from support.cohort import write_cohort
from support.report_table import emit_table

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CASES = ("2", "20", "28", "32", "33", "34", "37")


def build_cohort(folder: Path, moves: int) -> Path:
    cohort = [(f"h{case}m{move}", case, move) for case in CASES for move in range(moves + 1)]
    manifest = write_cohort(folder, with_corrupt=False, cohort=cohort, root=SHARED_DATA / "harvard_ctmri")
    sample = demo_pair()
    line = f"mri_dir,{sample.ct},{sample.mr},{sample.ct_landmarks},{sample.mr_landmarks}"
    manifest.write_text(manifest.read_text() + line + "\n")
    return manifest


def serial_loop(manifest: Path, out: Path) -> tuple[float, list[float]]:
    """Each case as its own ``ctmrfusion register`` call, one after the other; (wall seconds, per-case s)."""
    with manifest.open() as handle:
        rows = list(csv.DictReader(handle))
    started, per_case = time.monotonic(), []
    for row in rows:
        tick = time.monotonic()
        command = [sys.executable, "-m", "CTMRFusionLib.cli", "register", "--quiet"]
        command += ["--ct", str(manifest.parent / row["ct"]), "--mr", str(manifest.parent / row["mr"])]
        command += ["--transform", str(out / f"{row['id']}.h5"), "--volume", str(out / f"{row['id']}.nrrd")]
        subprocess.run(command, check=True, capture_output=True)
        per_case.append(time.monotonic() - tick)
    return time.monotonic() - started, per_case


def batch(manifest: Path, out: Path, workers: int) -> tuple[float, list[dict]]:
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "batch", "--manifest", str(manifest), "--out", str(out)]
    started = time.monotonic()
    run = subprocess.run([*command, "--workers", str(workers), "--quiet"], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit(f"batch failed: {run.stderr[-2000:]}")
    with (out / "summary.csv").open() as handle:
        return seconds, list(csv.DictReader(handle))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=3, help="seeded moves per Harvard stack besides unmoved")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    env_threads = os.environ.get("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "all")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        manifest = build_cohort(folder / "cohort", args.moves)
        count = len(manifest.read_text().splitlines()) - 1
        (folder / "loop").mkdir()
        loop_seconds, loop_cases = serial_loop(manifest, folder / "loop")
        table = [["serial register loop", "-", f"{loop_seconds:.0f}", f"{60 * count / loop_seconds:.2f}", "-", "1.00"]]
        throughput = {}
        for workers in args.workers:
            seconds, rows = batch(manifest, folder / f"batch{workers}", workers)
            peaks = np.array([float(r["peak_memory_mb"]) for r in rows])
            tre = [float(r["tre_after_mm"]) for r in rows if r["tre_after_mm"]]
            throughput[workers] = count / seconds
            table.append(
                [
                    f"batch, LocalCluster {workers} worker(s)",
                    f"{np.median(peaks):.0f} / {peaks.max():.0f}",
                    f"{seconds:.0f}",
                    f"{60 * count / seconds:.2f}",
                    f"{np.mean(tre):.2f} ({len(tre)} cases)",
                    f"{loop_seconds / seconds:.2f}",
                ]
            )
    header = ["run", "peak MB per case (median / max)", "wall s", "cases/min", "landmark TRE after (mm)", "vs loop"]
    title = f"{count} cases, default preset, {available_cores()} cores (ITK threads in the loop: {env_threads})"
    print(title)
    emit_table(header, table, args.markdown)
    if len(throughput) >= 1:
        best = max(throughput)
        per_slot = throughput[best] / best  # cases per second per task slot (1 slot = 1 core here)
        print(f"\nPer-case mean in the serial loop: {np.mean(loop_cases):.1f} s")
        print(f"Estimate for 500 cases at {per_slot * 60:.2f} cases/min per core (measured with {best} worker(s)):")
        for nodes, cores in ((1, 32), (4, 32), (16, 32)):
            minutes = 500 / (per_slot * nodes * cores) / 60
            print(f"  {nodes:>2} node(s) × {cores} cores: {minutes:.0f} min (linear scaling assumed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
