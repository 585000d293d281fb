"""How many threads a computation should take: the cores this process may use that other work leaves free.

Torch's CPU thread pool spins while it waits and stalls when it cannot have every core it asked for: measured on
the bundled pair (``ctmrfusion fuse``, U-Net, wall time with start-up, 2 cores), 5.2 s quiet but 8.1 s with one
core busy with another process; with OpenMP's passive wait 4.9 s and 5.7 s, on one thread 5.2 s busy. So the
command line makes OpenMP waits passive before torch is imported, and takes the cores that the load leaves free.

The load is how many other processes are running or ready to run at this moment (Linux: the kernel's count, read
a few times), else the 1-minute load average. The average lags: for a minute after other work ended it still
counts that work, and a U-Net started then ran on one of two idle cores (measured in the command-line benchmark,
where quiet runs follow busy ones: 12.2 s against 9.4 s on two threads).
"""

from __future__ import annotations

import os
import time

#: Set (unless the user set it) before torch is imported: waiting threads sleep instead of spinning.
PASSIVE_WAIT = ("OMP_WAIT_POLICY", "PASSIVE")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def running_elsewhere(readings: int = 5, interval_s: float = 0.01) -> int | None:
    """Processes running or ready to run on the machine now, other than this one: the median of a few readings
    of the kernel's count in ``/proc/loadavg`` (Linux); None where there is no such count."""
    counts = []
    for reading in range(readings):
        try:
            with open("/proc/loadavg") as handle:
                running = int(handle.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(0, running - 1))  # this process is one of them
        if reading < readings - 1:
            time.sleep(interval_s)
    return sorted(counts)[len(counts) // 2]


def cores_left(cores: int, machine_cores: int, busy: float | None) -> int:
    """``cores`` less the share that falls on them of ``busy`` cores' worth of other work on a machine of
    ``machine_cores`` (None: unknown, all of them); at least 1."""
    if busy is None:
        return cores
    share = busy * cores / max(machine_cores, cores)
    return max(1, min(cores, cores - int(round(share))))


def free_cores() -> int:
    """The cores this process may use that other work leaves free (at least 1): :func:`running_elsewhere`, or
    the 1-minute load average where the platform does not count running processes."""
    busy = running_elsewhere()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (OSError, AttributeError):  # no load average (Windows)
            busy = None
    return cores_left(available_cores(), os.cpu_count() or available_cores(), busy)


def use_passive_waits() -> None:
    """Make OpenMP's waiting threads sleep (unless the environment says otherwise); before torch is imported."""
    name, value = PASSIVE_WAIT
    os.environ.setdefault(name, value)


def use_threads_for_torch(threads: int) -> int:
    """Limit torch (and OpenMP, if torch is not imported yet) to ``threads``; returns it."""
    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch  # noqa: PLC0415 — only the U-Net's path comes here, and it needs torch

    torch.set_num_threads(threads)
    return threads
