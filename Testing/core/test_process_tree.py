"""Workers start without a console window and in a process group of their own, and stop as a whole tree: a
launcher that runs the interpreter as its child (as Slicer's PythonSlicer does) takes its child down with it."""

import os
import subprocess
import sys
import time

import pytest

from CTMRFusionLib.core.process_tree import group_members, popen_options, stop_tree


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
