"""Child processes that are started without a console window and stopped together with everything they started.

Inside Slicer a worker is started through ``PythonSlicer``, a CTK application launcher that runs the real
interpreter as *its* child and forwards no signal: stopping the launcher alone leaves the work running. So a
worker gets a process group of its own (a new session on POSIX, ``CREATE_NEW_PROCESS_GROUP`` on Windows), and
:func:`stop_tree` ends the whole group: SIGTERM first (the command removes its temporary files), SIGKILL after a
grace period; on Windows ``taskkill /T /F`` ends the tree. On Windows the child also gets no console window
(``CREATE_NO_WINDOW``, as ``slicer.util.launchConsoleProcess`` does): closing such a window would kill the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

#: Set in a child's environment by a parent that holds a pipe to the child's standard input: the command then ends
#: itself (as on SIGTERM) when that pipe closes, which the system does when the parent ends, even killed. So a
#: worker never outlives the Slicer or the batch worker that started it, also through a launcher in between.
LIFELINE_VARIABLE = "CTMRFUSION_EXIT_WITH_PARENT"

#: Seconds between SIGTERM and SIGKILL when a tree is stopped.
TERMINATE_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.02


def popen_options(platform: str = sys.platform) -> dict:
    """Keyword arguments for ``subprocess.Popen`` that give the child its own process group, and on Windows no
    console window."""
    if platform == "win32":
        no_window = getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)
        new_group = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200)
        return {"creationflags": no_window | new_group}
    return {"start_new_session": True}


def lifeline_environment(environment: dict) -> dict:
    """``environment`` with the lifeline asked for (the child must be started with ``stdin=subprocess.PIPE``)."""
    return {**environment, LIFELINE_VARIABLE: "stdin"}


def watch_lifeline() -> None:
    """In a command started with :func:`lifeline_environment`: end this process (SIGTERM to itself) once its
    standard input reaches its end. Does nothing otherwise."""
    if os.environ.get(LIFELINE_VARIABLE) != "stdin" or sys.stdin is None:
        return
    try:
        descriptor = sys.stdin.fileno()
    except (OSError, ValueError):
        return

    def wait_for_the_parent() -> None:
        # The raw descriptor, not sys.stdin: a thread blocked in a buffered read holds its lock, and the
        # interpreter's shutdown would then abort on it.
        try:
            while os.read(descriptor, 4096):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM if sys.platform != "win32" else signal.SIGBREAK)

    threading.Thread(target=wait_for_the_parent, name="ctmrfusion-lifeline", daemon=True).start()


def stop_tree(process: subprocess.Popen, grace: float = TERMINATE_GRACE_SECONDS) -> None:
    """End ``process`` and every process of its group; returns once none is left running (or, where that cannot
    be seen, once ``process`` has ended). The caller's own process is never signalled."""
    if sys.platform == "win32":
        if process.poll() is None:
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(process.pid)],
                capture_output=True,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
                check=False,
            )
        process.wait()
        return
    group = process.pid  # start_new_session made the child the leader of a group of its own
    if group == os.getpgrp():
        raise RuntimeError("the child shares this process's group; start it with popen_options()")
    deadline = time.monotonic() + grace
    signal_group(group, signal.SIGTERM)
    while _group_running(group, process) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    if _group_running(group, process):
        signal_group(group, signal.SIGKILL)
        while _group_running(group, process):
            time.sleep(_POLL_SECONDS)
    process.wait()


def signal_group(group: int, signum: int) -> None:
    """Send ``signum`` to every process of a process group (none left: nothing happens)."""
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_running(group: int, leader: subprocess.Popen) -> bool:
    """Whether a process of ``group`` still runs (zombies, which no longer run, do not count)."""
    leader.poll()  # reap the leader once it has exited
    members = group_members(group)
    if members is None:  # no /proc: ask the kernel whether the group has any member
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return bool(members)


def group_members(group: int) -> list[int] | None:
    """PIDs of the running (not zombie) processes of a process group, from ``/proc``; None without ``/proc``."""
    if not os.path.isdir("/proc/self"):
        return None
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in ("Z", "X"):
            members.append(int(entry))
    return members
