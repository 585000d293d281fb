"""``ctmrfusion batch --scheduler ADDRESS`` on a Dask cluster started as separate processes (``dask scheduler``
and ``dask worker``), as a user's existing cluster would be; and ``--case-timeout`` stopping a case."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest
import SimpleITK as sitk

from support.cohort import assert_same_result, write_cohort

pytestmark = [pytest.mark.slow, pytest.mark.real_data]


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    processes = [
        subprocess.Popen(
            [*dask, "scheduler", "--scheduler-file", str(scheduler_file), "--port", "0", "--dashboard-address", ":0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler_file.exists(), "dask scheduler did not start"
        processes.append(
            subprocess.Popen(
                [*dask, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1", "--nthreads", "1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        yield json.loads(scheduler_file.read_text())["address"]
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def one_case(tmp_path_factory):
    manifest = write_cohort(tmp_path_factory.mktemp("cohort"), with_corrupt=False)
    lines = manifest.read_text().splitlines()
    single = manifest.parent / "one.csv"
    single.write_text(lines[0] + "\n" + lines[1] + "\n")
    return single


def _batch(*arguments):
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "batch", *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _row(out):
    with (out / "summary.csv").open() as handle:
        return next(csv.DictReader(handle))


def test_batch_runs_on_an_existing_scheduler_like_a_direct_register(scheduler_address, one_case, tmp_path):
    out = tmp_path / "out"
    run = _batch("--manifest", one_case, "--out", out, "--preset", "fast", "--scheduler", scheduler_address)
    assert run.returncode == 0, run.stderr
    assert f"scheduler {scheduler_address}" in run.stderr
    row = _row(out)
    assert row["status"] == "ok" and row["id"] == "h2"
    report = json.loads((out / "h2" / "report.json").read_text())
    direct = tmp_path / "direct.h5"
    data = one_case.parent / "data"
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "register", "--quiet", "--preset", "fast"]
    command += ["--ct", str(data / "h2_ct.nrrd"), "--mr", str(data / "h2_mr.nrrd"), "--transform", str(direct)]
    env = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": str(report["itk_threads"])}
    subprocess.run(command, check=True, env=env, capture_output=True)
    actual, expected = sitk.ReadTransform(str(out / "h2" / "mr_to_ct.h5")), sitk.ReadTransform(str(direct))
    assert_same_result(actual, expected, report, sitk.ReadImage(str(data / "h2_ct.nrrd")))


def test_a_case_over_its_time_limit_is_stopped_and_failed(scheduler_address, one_case, tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    run = _batch("--manifest", one_case, "--out", out, "--scheduler", scheduler_address, "--case-timeout", 0.5)
    assert run.returncode == 1, run.stderr
    row = _row(out)
    assert row["status"] == "failed" and "timed out" in row["error"]
    assert float(row["seconds"]) < 10  # stopped, not run to the end (the default preset takes longer)
    assert time.monotonic() - started < 60
    assert not (out / "h2" / "mr_to_ct.h5").exists()


def test_a_case_whose_worker_dies_runs_again_and_succeeds(scheduler_address, one_case, tmp_path):
    """The worker process running a case is killed (SIGKILL) mid-registration; the nanny restarts it and Dask
    runs the task again (Dask's rescheduling of a lost task): the case still ends ok, and the batch exits 0."""
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "batch", "--manifest", str(one_case), "--out", str(out)]
    batch = subprocess.Popen(
        [*command, "--preset", "fast", "--scheduler", scheduler_address, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and batch.poll() is None:
        for process in psutil.process_iter(["cmdline"]):
            cmdline = process.info["cmdline"] or []
            if "CTMRFusionLib.cli" in cmdline and "register" in cmdline and str(out) in " ".join(cmdline):
                victim = process
        time.sleep(0.1)
    assert victim is not None, "the case's register process never started"
    worker = victim.parent()
    for process in (victim, worker):
        process.kill()
    stdout, stderr = batch.communicate(timeout=300)
    assert batch.returncode == 0, stderr
    assert _row(out)["status"] == "ok"
    report = json.loads((out / "h2" / "report.json").read_text())
    assert report["metric"] < -0.3
