"""Workers start without a console window and in a process group of their own, and stop as a whole tree: a
launcher that runs the interpreter as its child (as Slicer's PythonSlicer does) takes its child down with it."""

import os
import subprocess
import sys
import time

import pytest

from CTMRFusionLib.core.process_tree import group_members, popen_options, stop_tree
from support.processes import running_processes_naming


def test_windows_workers_get_no_console_window_and_a_process_group_of_their_own():
    flags = popen_options("win32")["creationflags"]
    assert flags & 0x08000000, "CREATE_NO_WINDOW: closing a console window would kill the job"
    assert flags & 0x00000200, "CREATE_NEW_PROCESS_GROUP: the tree is stopped as one"
    assert "start_new_session" not in popen_options("win32")


def test_posix_workers_lead_a_session_of_their_own():
    assert popen_options("linux") == {"start_new_session": True}
    assert popen_options("darwin") == {"start_new_session": True}


@pytest.mark.skipif(sys.platform == "win32" or not os.path.isdir("/proc/self"), reason="needs POSIX and /proc")
def test_stopping_a_launcher_stops_the_interpreter_it_started(tmp_path):
    launcher = tmp_path / "PythonSlicer"
    # Like CTK's launcher: runs the real interpreter as its child, waits, forwards no signal.
    launcher.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\nexit $?\n')
    launcher.chmod(0o755)
    child = subprocess.Popen([str(launcher), "-c", "import time; time.sleep(600)"], **popen_options())
    deadline = time.monotonic() + 10
    while len(group_members(child.pid) or []) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(group_members(child.pid)) == 2, "the launcher and its interpreter"

    started = time.monotonic()
    stop_tree(child)
    assert group_members(child.pid) == []
    assert time.monotonic() - started < 2.0
    assert os.getpgrp() != child.pid  # this process was never in that group


@pytest.mark.skipif(sys.platform == "win32" or not os.path.isdir("/proc/self"), reason="needs POSIX and /proc")
def test_a_worker_ends_itself_when_its_parent_is_killed_even_through_a_launcher(tmp_path, sample):
    """The parent (Slicer, a Dask worker) holds the worker's stdin; killed with SIGKILL it cannot stop anything,
    but the system closes that pipe and the worker, behind a launcher that forwards no signal, ends itself."""
    launcher = tmp_path / "PythonSlicer"
    launcher.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\nexit $?\n')
    launcher.chmod(0o755)
    marker = str(tmp_path / "lifeline-transform.h5")
    parent_code = f"""
import subprocess, time
from CTMRFusionLib.core.commands import command_environment
from CTMRFusionLib.core.process_tree import lifeline_environment, popen_options
arguments = ["-m", "CTMRFusionLib.cli", "register", "--ct", {str(sample.ct)!r}, "--mr", {str(sample.mr)!r},
             "--transform", {marker!r}, "--preset", "fine", "--quiet"]
subprocess.Popen([{str(launcher)!r}, *arguments], stdin=subprocess.PIPE,
                 env=lifeline_environment(command_environment()), **popen_options())
time.sleep(600)
"""
    parent = subprocess.Popen([sys.executable, "-c", parent_code])

    def workers():
        return [pid for pid in running_processes_naming(marker) if pid != parent.pid]  # its code names the marker too

    deadline = time.monotonic() + 60
    while len(workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers()) == 2, "the launcher and the interpreter"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers() == [], "the worker outlived its killed parent"
    assert not os.path.exists(marker)
