"""Threads for torch from the cores this process may use and the load on them; OpenMP waits passive."""

import os
import subprocess
import sys
import time

import pytest

from CTMRFusionLib.core.threads import available_cores, cores_left, free_cores, running_elsewhere, use_passive_waits


def test_free_cores_are_between_one_and_the_cores_this_process_may_use():
    assert 1 <= free_cores() <= available_cores()


def test_cores_left_by_the_work_on_the_machine():
    assert cores_left(2, 2, 1) == 1  # one of two cores busy
    assert cores_left(2, 2, 0) == 2
    assert cores_left(2, 2, None) == 2  # unknown
    assert cores_left(2, 2, 5) == 1  # never fewer than one
    assert cores_left(4, 16, 8) == 2  # this process may use 4 of 16 cores, half of which are busy


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="the running count is Linux's /proc/loadavg")
def test_a_process_spinning_now_takes_a_core():
    """Counted at once (the 1-minute load average would take most of a minute to show it)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert running_elsewhere() >= 1
        if available_cores() == os.cpu_count() and available_cores() > 1:
            assert free_cores() <= available_cores() - 1
    finally:
        spinner.kill()
        spinner.wait()


def test_openmp_waits_are_passive_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    use_passive_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    use_passive_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
