"""``registerVolumes`` in a worker process, so Slicer's GUI stays responsive and Cancel stops the work at once.

The job writes the nodes' images (where they are shown: parent transforms applied), masks, start transform,
landmarks and options into a private temporary folder, and runs ``ctmrfusion register`` on them in a child
process. The child streams its progress as JSON lines (``--progress-format json``); :meth:`RegistrationJob.poll`
returns them without blocking, as :class:`~CTMRFusionLib.core.progress.ProgressEvent` objects and log lines, so a
panel can poll from a timer. :meth:`RegistrationJob.cancel` kills the child and removes the folder: the scene is
never touched. :meth:`RegistrationJob.finish` stores the result with
:meth:`~CTMRFusionLib.mrml.logic.CTMRFusionLogic.storeRegistration`, exactly as the in-process call does.

Qt-free: a panel drives it with a ``qt.QTimer``; on slicer-core a test drives it with a loop.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

import CTMRFusionLib
from CTMRFusionLib.core.progress import Cancelled, ProgressEvent
from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.logic import check_registration_nodes
from CTMRFusionLib.mrml.markups import landmarks_from_markups_node
from CTMRFusionLib.mrml.masks import mask_image
from CTMRFusionLib.registration.options import RegistrationOptions, write_preset_file

#: Seconds between SIGTERM (the command removes its temporary files) and SIGKILL on cancel.
TERMINATE_GRACE_SECONDS = 5.0


def python_executable() -> str:
    """The interpreter that runs the worker: Slicer's ``PythonSlicer`` inside the Slicer application (whose own
    executable is Slicer, not Python), else this interpreter."""
    if getattr(sys.modules.get("slicer"), "app", None) is not None:
        return shutil.which("PythonSlicer") or sys.executable
    return sys.executable


@dataclass
class JobResult:
    """What a finished job stored: the transform node (CT→MR as FromParent, RAS), the resampled MR volume node
    (or None), the CT→MR transform (LPS) and the command's JSON report (metric, per-level trace, timings, TRE)."""

    transformNode: object
    volumeNode: object | None
    transform: sitk.Transform
    report: dict


def _write_landmarks_csv(markups_node, path: Path) -> None:
    """The node's control points (world positions, LPS mm) as a ``label,x,y,z`` CSV file."""
    landmarks = landmarks_from_markups_node(markups_node)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "x", "y", "z"])
        for label, point in zip(landmarks.labels, landmarks.points_lps):
            writer.writerow([label, *(repr(float(v)) for v in point)])


class RegistrationJob:
    """One registration of scene nodes in a worker process. Arguments as
    :meth:`~CTMRFusionLib.mrml.logic.CTMRFusionLogic.registerVolumes`; ``logic`` stores the result."""

    def __init__(
        self,
        logic,
        ctVolumeNode,
        mrVolumeNode,
        options: RegistrationOptions | None = None,
        ctMaskNode=None,
        mrMaskNode=None,
        initialTransformNode=None,
        ctLandmarksNode=None,
        mrLandmarksNode=None,
        outputTransformNode=None,
        outputVolumeNode=None,
        createOutputVolume: bool = True,
    ):
        check_registration_nodes(
            ctVolumeNode, mrVolumeNode, (ctMaskNode, mrMaskNode), (outputTransformNode, outputVolumeNode)
        )
        self.logic = logic
        self.nodes = {
            "ct": ctVolumeNode,
            "mr": mrVolumeNode,
            "ct_mask": ctMaskNode,
            "mr_mask": mrMaskNode,
            "initial": initialTransformNode,
            "ct_landmarks": ctLandmarksNode,
            "mr_landmarks": mrLandmarksNode,
        }
        self.options = options or RegistrationOptions()
        self.outputs = (outputTransformNode, outputVolumeNode)
        self.resample = createOutputVolume or outputVolumeNode is not None
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.readers: list[threading.Thread] = []
        self.log: list[str] = []

    # -- running -------------------------------------------------------------------------------------------
    def _arguments(self) -> list[str]:
        folder, nodes = self.folder, self.nodes
        arguments = ["--quiet", "--progress-format", "json", "--preset", str(folder / "options.json")]
        images = {
            "ct": mrml_bridge.volume_node_to_sitk(nodes["ct"]),
            "mr": mrml_bridge.volume_node_to_sitk(nodes["mr"]),
            "ct_mask": mask_image(nodes["ct_mask"], nodes["ct"]),
            "mr_mask": mask_image(nodes["mr_mask"], nodes["mr"]),
        }
        for role, image in images.items():
            if image is not None:
                sitk.WriteImage(image, str(folder / f"{role}.nrrd"), False)
                arguments += [f"--{role.replace('_', '-')}", str(folder / f"{role}.nrrd")]
        if nodes["initial"] is not None:
            sitk.WriteTransform(mrml_bridge.sitk_from_transform_node(nodes["initial"]), str(folder / "initial.h5"))
            arguments += ["--initial-transform", str(folder / "initial.h5")]
        if nodes["ct_landmarks"] is not None and nodes["mr_landmarks"] is not None:
            for role in ("ct_landmarks", "mr_landmarks"):
                _write_landmarks_csv(nodes[role], folder / f"{role}.csv")
                arguments += [f"--{role.replace('_', '-')}", str(folder / f"{role}.csv")]
        write_preset_file(self.options, folder / "options.json", "the panel's options for this run")
        arguments += ["--interpolator", self.options.final_interpolator]
        arguments += ["--transform", str(folder / "transform.h5"), "--report", str(folder / "report.json")]
        if self.resample:
            arguments += ["--volume", str(folder / "resampled.nrrd")]
        return arguments

    def start(self) -> RegistrationJob:
        """Export the inputs and start the worker process; returns self."""
        self.folder = Path(tempfile.mkdtemp(prefix="ctmrfusion-job-"))
        try:
            arguments = self._arguments()
        except Exception:
            self._remove_folder()
            raise
        environment = dict(os.environ)
        package_root = str(Path(CTMRFusionLib.__file__).resolve().parents[1])
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
        command = [python_executable(), "-m", "CTMRFusionLib.cli", "register", *arguments]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
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

    # -- ending ----------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL after a grace period) and remove its files; the scene is
        unchanged."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=TERMINATE_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._remove_folder()

    def finish(self, timeout: float | None = None) -> JobResult:
        """Wait for the worker, then store its result in the scene. Raises ``ValueError`` with the command's
        one-line reason when it failed, :class:`Cancelled` when it was cancelled."""
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
                errors = [line for line in self.log if line.startswith("ctmrfusion: error:")]
                reason = (errors or self.log or [f"the worker exited with code {code}"])[-1]
                raise ValueError(reason.removeprefix("ctmrfusion: error: "))
            transform = sitk.ReadTransform(str(self.folder / "transform.h5"))
            report = json.loads((self.folder / "report.json").read_text())
            resampled = sitk.ReadImage(str(self.folder / "resampled.nrrd")) if self.resample else None
        finally:
            if not self.running:
                self._remove_folder()
        stored = self.logic.storeRegistration(self.nodes["mr"], transform, resampled, *self.outputs)
        return JobResult(*stored, transform, report)

    def _remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
