"""How many threads a computation should take: the cores this process may use that other work leaves free.

Torch's CPU thread pool spins while it waits and stalls when it cannot have every core it asked for: measured on
the bundled pair (``ctmrfusion fuse``, U-Net, wall time with start-up, 2 cores), 5.2 s quiet but 8.1 s with one
core busy with another process; with OpenMP's passive wait 4.9 s and 5.7 s, on one thread 5.2 s busy. So the
command line makes OpenMP waits passive before torch is imported, and takes the cores that the load leaves free.
"""

from __future__ import annotations

import os

#: Set (unless the user set it) before torch is imported: waiting threads sleep instead of spinning.
PASSIVE_WAIT = ("OMP_WAIT_POLICY", "PASSIVE")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def free_cores() -> int:
    """The available cores less the share of the 1-minute load average that falls on them (at least 1)."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # no load average (Windows)
        return cores
    busy = load * cores / max(os.cpu_count() or cores, cores)
    return max(1, min(cores, cores - int(round(busy))))


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
