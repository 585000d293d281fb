"""``fuseVolumes`` in a worker process (:class:`~CTMRFusionLib.mrml.worker_job.WorkerJob`): the CT and the
registered MR (where it is shown) are written to the job's folder, ``ctmrfusion fuse`` runs on them with the
method, device and batch size of :class:`~CTMRFusionLib.mrml.logic.FusionOptions`, and the fused volume is stored
with :meth:`~CTMRFusionLib.mrml.logic.CTMRFusionLogic.storeFusion`. The intensity windows are the defaults (as
the panel uses them); for others, call ``fuseVolumes`` in-process."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.logic import FusionOptions, check_fusion_nodes
from CTMRFusionLib.mrml.worker_job import WorkerJob


class FusionJob(WorkerJob):
    """One fusion of scene nodes in a worker process; :meth:`finish` returns the output volume node."""

    subcommand = "fuse"

    def __init__(self, logic, ctVolumeNode, mrVolumeNode, outputVolumeNode=None, options: FusionOptions | None = None):
        check_fusion_nodes(ctVolumeNode, mrVolumeNode, outputVolumeNode)
        options = options or FusionOptions()
        if options.normalization != FusionOptions().normalization:
            raise ValueError("Custom intensity windows are applied by fuseVolumes in-process, not by a FusionJob.")
        super().__init__()
        self.logic, self.options = logic, options
        self.nodes = {"ct": ctVolumeNode, "mr": mrVolumeNode, "output": outputVolumeNode}

    def arguments(self, folder: Path) -> list[str]:
        for role in ("ct", "mr"):
            sitk.WriteImage(mrml_bridge.volume_node_to_sitk(self.nodes[role]), str(folder / f"{role}.nrrd"), False)
        options = self.options
        arguments = ["--ct", str(folder / "ct.nrrd"), "--mr", str(folder / "mr.nrrd")]
        arguments += ["--output", str(folder / "fused.nrrd"), "--method", options.method, "--device", options.device]
        if options.batchSize:
            arguments += ["--batch-size", str(options.batchSize)]
        if options.modelPath:
            arguments += ["--model", str(options.modelPath)]
        if options.modelSha256:
            arguments += ["--model-sha256", options.modelSha256]
        return arguments

    def store(self, folder: Path):
        fused = sitk.ReadImage(str(folder / "fused.nrrd"))
        return self.logic.storeFusion(fused, self.options.method, self.nodes["output"])
