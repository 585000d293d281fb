"""Threads for torch from the cores this process may use and the load on them; OpenMP waits passive."""

import os

from CTMRFusionLib.core.threads import available_cores, free_cores, use_passive_waits


def test_free_cores_are_between_one_and_the_cores_this_process_may_use():
    assert 1 <= free_cores() <= available_cores()


def test_a_busy_machine_leaves_fewer_free_cores(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    quiet = free_cores()
    monkeypatch.setattr(os, "getloadavg", lambda: (float(os.cpu_count() or 1), 0.0, 0.0))
    assert free_cores() == 1 and quiet == available_cores()


def test_openmp_waits_are_passive_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    use_passive_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    use_passive_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
