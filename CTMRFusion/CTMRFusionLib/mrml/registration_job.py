"""``registerVolumes`` in a worker process (:class:`~CTMRFusionLib.mrml.worker_job.WorkerJob`): the nodes' images
(where they are shown: parent transforms applied), masks, start transform, landmarks and options are written to
the job's folder, ``ctmrfusion register`` runs on them, and the result is stored with
:meth:`~CTMRFusionLib.mrml.logic.CTMRFusionLogic.storeRegistration`, exactly as the in-process call does."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.logic import check_registration_nodes, start_on_shown_mr
from CTMRFusionLib.mrml.markups import landmarks_from_markups_node
from CTMRFusionLib.mrml.masks import mask_image
from CTMRFusionLib.mrml.worker_job import WorkerJob
from CTMRFusionLib.registration.options import RegistrationOptions, write_preset_file
from CTMRFusionLib.registration.tre import TargetRegistrationError


@dataclass
class JobResult:
    """What a finished job stored: the transform node (shows the MR on the CT once the MR is under it), the
    resampled MR volume node (or None), the CT→MR transform (LPS, the MR where it was shown) and the command's
    JSON report (metric, per-level trace, timings, TRE)."""

    transformNode: object
    volumeNode: object | None
    transform: sitk.Transform
    report: dict

    @property
    def tre(self) -> TargetRegistrationError | None:
        """Landmark TRE as the worker measured it (landmarks and MR where they were shown), if landmarks were given."""
        return TargetRegistrationError.from_dict(self.report["tre"]) if "tre" in self.report else None


def _write_landmarks_csv(markups_node, path: Path) -> None:
    """The node's control points (world positions, LPS mm) as a ``label,x,y,z`` CSV file."""
    landmarks = landmarks_from_markups_node(markups_node)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "x", "y", "z"])
        for label, point in zip(landmarks.labels, landmarks.points_lps):
            writer.writerow([label, *(repr(float(v)) for v in point)])


class RegistrationJob(WorkerJob):
    """One registration of scene nodes in a worker process. Arguments as
    :meth:`~CTMRFusionLib.mrml.logic.CTMRFusionLogic.registerVolumes`; ``logic`` stores the result;
    :meth:`finish` returns a :class:`JobResult`."""

    subcommand = "register"

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
        super().__init__()
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

    def arguments(self, folder: Path) -> list[str]:
        nodes = self.nodes
        arguments = ["--preset", str(folder / "options.json")]
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
        self.mr_world_to_local = mrml_bridge.world_to_local_lps(nodes["mr"])  # as the MR is exported now
        start = start_on_shown_mr(nodes["mr"], nodes["initial"])
        if start is not None:
            sitk.WriteTransform(start, str(folder / "initial.h5"))
            arguments += ["--initial-transform", str(folder / "initial.h5")]
        if nodes["ct_landmarks"] is not None and nodes["mr_landmarks"] is not None:
            for role in ("ct_landmarks", "mr_landmarks"):
                _write_landmarks_csv(nodes[role], folder / f"{role}.csv")
                arguments += [f"--{role.replace('_', '-')}", str(folder / f"{role}.csv")]
        write_preset_file(self.options, folder / "options.json", "the panel's options for this run")
        arguments += ["--interpolator", self.options.final_interpolator]
        if self.options.deep_model:  # a model runs only when the command line names it (never from a preset)
            arguments += ["--deep-model", str(self.options.deep_model)]
        arguments += ["--transform", str(folder / "transform.h5"), "--report", str(folder / "report.json")]
        if self.resample:
            arguments += ["--volume", str(folder / "resampled.nrrd")]
        return arguments

    def store(self, folder: Path) -> JobResult:
        transform = sitk.ReadTransform(str(folder / "transform.h5"))
        report = json.loads((folder / "report.json").read_text())
        resampled = sitk.ReadImage(str(folder / "resampled.nrrd")) if self.resample else None
        stored = self.logic.storeRegistration(
            self.nodes["mr"], transform, resampled, *self.outputs, mrWorldToLocal=self.mr_world_to_local
        )
        return JobResult(*stored, transform, report)
