"""A case's child process: exit codes, the hard deadline, its own peak memory, and its thread settings."""

from __future__ import annotations

import os
import sys
import time

import pytest

from CTMRFusionLib.batch.child_process import run_child
from CTMRFusionLib.core.commands import command_environment
from support.processes import ENDED, process_state


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_exit_code_and_output_reach_the_log(tmp_path):
    log = tmp_path / "log.txt"
    result = run_child(_python("import sys; print('hello'); sys.exit(3)"), log, threads=1, deadline=None)
    assert result.returncode == 3 and not result.timed_out
    assert "hello" in log.read_text()


def test_peak_memory_is_the_childs_own(tmp_path):
    """A child that holds 300 MB reports at least that; a small one far less (not the parent's peak). The peak is
    sampled from /proc while the child runs (wait4's ru_maxrss would count the parent's pages at fork), so the
    big child holds its memory for a few samples, as a registration does for seconds."""
    code = "import time, numpy as np; a = np.ones(300 * 2**20 // 8); time.sleep(0.5)"
    big = run_child(_python(code), tmp_path / "a", 1, None)
    small = run_child(_python("pass"), tmp_path / "b", 1, None)
    assert big.peak_mb > 300 and small.peak_mb < 100, (big.peak_mb, small.peak_mb)


def test_a_child_past_its_deadline_is_stopped(tmp_path):
    started = time.monotonic()
    result = run_child(_python("import time; time.sleep(60)"), tmp_path / "log", 1, deadline=time.monotonic() + 0.5)
    assert result.timed_out and result.returncode != 0
    assert time.monotonic() - started < 10


def test_thread_settings_reach_the_child(tmp_path):
    environment = command_environment(3)
    assert environment["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] == "3" and environment["OMP_NUM_THREADS"] == "3"
    code = "import SimpleITK as s; print('threads', s.ProcessObject.GetGlobalDefaultNumberOfThreads())"
    run_child(_python(code), tmp_path / "log", threads=3, deadline=None)
    assert "threads 3" in (tmp_path / "log").read_text()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_deadline_stops_everything_the_case_started(tmp_path):
    """The case's command runs in a process group of its own: a grandchild it started (a launcher's interpreter)
    is stopped with it, not left running with PID 1 as its parent."""
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    result = run_child(_python(code), tmp_path / "log.txt", threads=1, deadline=time.monotonic() + 3.0)
    assert result.timed_out and time.monotonic() - started < 15
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while process_state(grandchild) not in (*ENDED, "gone") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_state(grandchild) in (*ENDED, "gone"), "the grandchild outlived its case"
