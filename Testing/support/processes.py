"""What runs on this machine, read from ``/proc`` (Linux): for tests that check that no process of a job is left."""

from __future__ import annotations

import os

#: States of a process that has ended but is not reaped yet (zombie, dead): it no longer runs.
ENDED = ("Z", "X")


def process_state(pid: int) -> str:
    """The state letter of process ``pid`` ("R", "S", "Z", ...), or "gone"."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def running_processes_naming(marker: str) -> list[int]:
    """PIDs of the running processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                named = marker.encode() in cmdline.read()
        except OSError:
            continue
        if named and process_state(int(entry)) not in (*ENDED, "gone"):
            found.append(int(entry))
    return found
