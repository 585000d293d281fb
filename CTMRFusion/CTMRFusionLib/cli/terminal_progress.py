"""Progress of long commands on stderr: one rewritten line on a terminal, a line per 10 % in a log, or one JSON
object per event for a program that runs the command (the Slicer panel's worker process)."""

from __future__ import annotations

import json
import math
import sys

from CTMRFusionLib.core.progress import ProgressEvent


class TerminalProgress:
    """A :data:`~CTMRFusionLib.core.progress.ProgressCallback` that writes to ``stream``."""

    def __init__(self, stream=None, quiet: bool = False):
        stream = stream or sys.stderr  # the current stderr, not the one at import
        self.stream, self.quiet = stream, quiet
        self.interactive = hasattr(stream, "isatty") and stream.isatty()
        self.last_decile = (None, -1)

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        detail = event.message
        if event.stage == "register" and event.iteration:
            detail += f" it {event.iteration} MI {event.metric:.4f}"
        line = f"{event.stage:10s} {event.fraction * 100:5.1f}%  {detail}"
        if self.interactive:
            self.stream.write("\r" + line[:100].ljust(100))
            if event.fraction >= 1.0:
                self.stream.write("\n")
        else:
            decile = (event.stage, int(event.fraction * 10))
            if decile != self.last_decile:
                self.last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()


class JsonProgress:
    """Every progress event as one JSON line on ``stream``: ``{"stage", "fraction", "message", "level",
    "iteration", "metric"}`` (metric null when not a number)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # the current stderr, not the one at import

    def __call__(self, event: ProgressEvent) -> None:
        record = {
            "stage": event.stage,
            "fraction": event.fraction,
            "message": event.message,
            "level": event.level,
            "iteration": event.iteration,
            "metric": event.metric if math.isfinite(event.metric) else None,
        }
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def add_progress_arguments(parser) -> None:
    """``--quiet`` and ``--progress-format`` for a subcommand that reports progress."""
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--progress-format",
        choices=("text", "json"),
        default="text",
        help="progress on stderr: text for people, or one JSON object per line (stage, fraction, message, "
        "level, iteration, metric) for programs",
    )


def progress_for(args):
    """The progress callback the arguments ask for (see :func:`add_progress_arguments`)."""
    return JsonProgress() if args.progress_format == "json" else TerminalProgress(quiet=args.quiet)
