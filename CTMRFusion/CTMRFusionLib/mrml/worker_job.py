"""A ``ctmrfusion`` subcommand run on scene nodes in a worker process, so Slicer's GUI stays responsive and
Cancel stops the work at once.

:class:`WorkerJob` writes what a subclass exports from the nodes into a private temporary folder and runs the
subcommand on it in a child process that streams its progress as JSON lines (``--progress-format json``). The
child runs in a process group of its own, without a console window on Windows (:mod:`~CTMRFusionLib.core.process_tree`):
inside Slicer it is started through the ``PythonSlicer`` launcher, and cancel ends the launcher and the interpreter
it started alike.
:meth:`WorkerJob.poll` returns them without blocking, as :class:`~CTMRFusionLib.core.progress.ProgressEvent`
objects and log lines, so a panel can poll from a timer. :meth:`WorkerJob.cancel` kills the child and removes the
folder: the scene is never touched. :meth:`WorkerJob.finish` waits and hands the folder to the subclass's
``store``, which puts the result into the scene. Qt-free: a panel drives it with a ``qt.QTimer``.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from CTMRFusionLib.core.commands import command_environment, ctmrfusion_command, last_error
from CTMRFusionLib.core.process_tree import lifeline_environment, popen_options, stop_tree
from CTMRFusionLib.core.progress import Cancelled, ProgressEvent


class WorkerJob:
    """Base of the jobs: ``subcommand`` is the ``ctmrfusion`` subcommand; subclasses implement
    ``arguments(folder)`` (export the inputs, return the command's arguments) and ``store(folder)``."""

    subcommand = ""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.readers: list[threading.Thread] = []
        self.log: list[str] = []

    def arguments(self, folder: Path) -> list[str]:
        raise NotImplementedError

    def store(self, folder: Path):
        raise NotImplementedError

    def start(self):
        """Export the inputs and start the worker process; returns self."""
        self.folder = Path(tempfile.mkdtemp(prefix="ctmrfusion-job-"))
        try:
            arguments = self.arguments(self.folder)
        except Exception:
            self._remove_folder()
            raise
        command = ctmrfusion_command(self.subcommand, [*arguments, "--quiet", "--progress-format", "json"])
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # the lifeline: the worker ends itself if Slicer ends without cancelling it
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=lifeline_environment(command_environment()),
            **popen_options(),
        )
        self.readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self.readers:
            reader.start()
        return self

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll(self) -> list:
        """New output since the last call: :class:`ProgressEvent` objects and plain log lines (str)."""
        items = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return items
            try:
                record = json.loads(line)
                metric = record.pop("metric")
                items.append(ProgressEvent(**record, metric=float("nan") if metric is None else metric))
            except (ValueError, TypeError, KeyError, AttributeError):
                if line.strip():
                    self.log.append(line)
                    items.append(line)

    def cancel(self) -> None:
        """Stop the worker and every process it started (SIGTERM, then SIGKILL after a grace period) and remove
        its files; the scene is unchanged."""
        if self.process is not None:
            stop_tree(self.process)
            self._close_lifeline()
        self._remove_folder()

    def finish(self, timeout: float | None = None):
        """Wait for the worker, then store its result in the scene (``store``). Raises ``ValueError`` with the
        command's one-line reason when it failed, :class:`Cancelled` when it was cancelled."""
        if self.process is None:
            raise ValueError("The job was not started.")
        try:
            code = self.process.wait(timeout=timeout)
            for reader in self.readers:
                reader.join(timeout=5.0)
            self.poll()
            if self.folder is None or not self.folder.exists():
                raise Cancelled("Cancelled by the user; no output was written.")
            if code != 0:
                raise ValueError(last_error(self.log, f"the worker exited with code {code}"))
            return self.store(self.folder)
        finally:
            if not self.running:
                self._close_lifeline()
                self._remove_folder()

    def _close_lifeline(self) -> None:
        if self.process is not None and self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def _remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
