"""Run one ``ctmrfusion`` subcommand in a child process: its own memory, a hard deadline, its peak memory measured.

A batch case runs the same command line a user would (so its result equals a direct ``ctmrfusion register``),
in a child of the Dask worker. A crash or a runaway case then takes down only the child; the deadline is enforced
by killing it; and the case's own peak resident memory is measured: the kernel's high-water mark of the child
after it started the command (``VmHWM`` in ``/proc``, read while it runs; ``ru_maxrss`` from ``wait4`` would include
the forked worker's memory before ``exec``), or ``wait4``'s figure where there is no ``/proc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from CTMRFusionLib.core.commands import command_environment
from CTMRFusionLib.core.process_tree import TERMINATE_GRACE_SECONDS, lifeline_environment, popen_options, signal_group

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ChildResult:
    """How a child ended. returncode: its exit code (negative: killed by that signal); timed_out: killed at the
    deadline; peak_mb: its peak resident memory in MB (None where the platform cannot say); seconds: wall time."""

    returncode: int
    timed_out: bool
    peak_mb: float | None
    seconds: float


def run_child(argv: list[str], log_path, threads: int, deadline: float | None) -> ChildResult:
    """Run ``argv``; its stdout and stderr are appended to ``log_path``. ``deadline``: ``time.monotonic()`` value
    at which the child is terminated (None: no limit)."""
    started = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(argv[1:]) + "\n").encode())
        log.flush()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,  # the lifeline: the child ends itself when this process ends, even killed
            stdout=log,
            stderr=subprocess.STDOUT,
            env=lifeline_environment(command_environment(threads)),
            **popen_options(),
        )
        timed_out, killed_at, high_water_kb = False, None, None
        while True:
            high_water_kb = _high_water_kb(child.pid) or high_water_kb
            status, usage = _poll(child)
            if status is not None:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline and not timed_out:
                timed_out, killed_at = True, now
                _signal_tree(child, signal.SIGTERM)
            if killed_at is not None and now - killed_at > TERMINATE_GRACE_SECONDS:
                _signal_tree(child, signal.SIGKILL)
                killed_at = float("inf")
            time.sleep(POLL_SECONDS)
        child.stdin.close()
    peak = None
    if high_water_kb is not None:
        peak = high_water_kb / 1024.0
    elif usage is not None:  # ru_maxrss is in kB on Linux, in bytes on macOS
        peak = usage.ru_maxrss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)
    return ChildResult(status, timed_out, peak, time.monotonic() - started)


def _signal_tree(child: subprocess.Popen, signum: int) -> None:
    """The child and everything it started (its own process group); on Windows the child alone."""
    if sys.platform != "win32":
        signal_group(child.pid, signum)
    elif signum == signal.SIGTERM:
        child.send_signal(signum)
    else:
        child.kill()


def _high_water_kb(pid: int) -> int | None:
    """The process's peak resident memory so far (kB, Linux ``VmHWM``), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _poll(child: subprocess.Popen):
    """(returncode, rusage) once ``child`` has ended, else (None, None). Uses ``wait4`` where it exists."""
    if not hasattr(os, "wait4"):
        code = child.poll()
        return code, None
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid == 0:
        return None, None
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, usage
