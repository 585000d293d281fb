"""Progress reporting and cancellation for long-running work (registration, resampling).

Work functions take ``progress: ProgressCallback | None`` and ``cancel: CancelToken | None``. The callback
gets a :class:`ProgressEvent`; the token is checked between iterations and chunks, and a cancelled run
raises :class:`Cancelled` before any output node or file is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    stage: "initialize", "register" or "resample". level: pyramid level index (0 = coarsest) or -1.
    iteration: optimizer iteration within the level (or chunk index). metric: current metric value
    (Mattes MI: lower is better) or NaN. fraction: overall progress in [0, 1]. message: human-readable.
    """

    stage: str
    fraction: float
    message: str = ""
    level: int = -1
    iteration: int = 0
    metric: float = float("nan")


ProgressCallback = Callable[[ProgressEvent], None]


class Cancelled(RuntimeError):
    """Raised when a run is cancelled through its :class:`CancelToken`; nothing was modified."""


class CancelToken:
    """Thread-safe cancellation flag shared between the GUI/console and a running job."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("Cancelled by the user; no output was written.")


def report(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send ``event`` to ``progress`` if there is a callback."""
    if progress is not None:
        progress(event)
