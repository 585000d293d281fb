"""MRML-level logic of CTMRFusion: what the module panel and the Slicer Python console call.

Qt-free: works inside Slicer and on slicer-core's scene alike. Every method takes its nodes explicitly;
the scene defaults to ``slicer.mrmlScene`` inside Slicer. Inputs are never modified; output nodes are
written only after the whole computation succeeded, so a cancelled or failed run leaves the scene as it was.

Example (Slicer Python console)::

    from CTMRFusionLib.mrml.logic import CTMRFusionLogic
    logic = CTMRFusionLogic()
    result = logic.registerVolumes(ctVolumeNode=ct, mrVolumeNode=mr)
    print(result.registration.metric, result.tre.after if result.tre else None)
    mr.SetAndObserveTransformNodeID(result.transformNode.GetID())  # MR shown on the CT
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core import frames
from CTMRFusionLib.core.progress import CancelToken, ProgressCallback
from CTMRFusionLib.fusion.normalization import NormalizationOptions
from CTMRFusionLib.fusion.pipeline import fuse_images, load_model_for
from CTMRFusionLib.imaging.resampling import resample_onto
from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.markups import landmarks_from_markups_node
from CTMRFusionLib.mrml.masks import mask_image
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.rigid import RigidRegistrationResult, register_rigid
from CTMRFusionLib.registration.tre import TargetRegistrationError, match_landmarks, target_registration_error


@dataclass
class FusionOptions:
    """Options of :meth:`CTMRFusionLogic.fuseVolumes`.

    method: "unet" (the shipped network, needs torch) or "max", "average", "laplacian", "gff".
    modelPath: a TorchScript fusion model you trust, instead of the shipped one (None: shipped, hash-checked);
    modelSha256: refuse modelPath unless it has this SHA-256. device: "auto", "cpu" or "cuda".
    batchSize: slices per network call (None: 2 on the CPU, 16 on a GPU).
    normalization: CT HU window and MR scaling to the 0–255 scale.
    """

    method: str = "unet"
    modelPath: str | None = None
    modelSha256: str | None = None
    device: str = "auto"
    batchSize: int | None = None
    normalization: NormalizationOptions = field(default_factory=NormalizationOptions)


@dataclass
class RegisterVolumesResult:
    """Outcome of :meth:`CTMRFusionLogic.registerVolumes`.

    transformNode: holds the CT→MR transform as FromParent (RAS); MR volumes under it appear on the CT.
    volumeNode: the MR resampled on the CT grid (or None). tre: landmark errors when landmarks were given.
    """

    registration: RigidRegistrationResult
    transformNode: object
    volumeNode: object | None
    tre: TargetRegistrationError | None

    @property
    def transform(self) -> sitk.Euler3DTransform:
        """The fixed (CT) → moving (MR) transform in LPS, as SimpleITK and ITK files use it."""
        return self.registration.transform


def check_registration_nodes(ctVolumeNode, mrVolumeNode, other_inputs=(), outputs=()) -> None:
    """``ValueError`` unless both volumes are given and no output node is also an input node."""
    if ctVolumeNode is None or mrVolumeNode is None:
        raise ValueError("Select both a CT volume and an MR volume.")
    inputs = {id(n) for n in (ctVolumeNode, mrVolumeNode, *other_inputs) if n is not None}
    for output in outputs:
        if output is not None and id(output) in inputs:
            raise ValueError(f"Output node '{output.GetName()}' is also an input; choose a new node.")


def check_fusion_nodes(ctVolumeNode, mrVolumeNode, outputVolumeNode=None) -> None:
    """``ValueError`` unless both volumes are given and the output node is not one of them."""
    if ctVolumeNode is None or mrVolumeNode is None:
        raise ValueError("Select both a CT volume and a registered MR volume.")
    if outputVolumeNode is not None and outputVolumeNode in (ctVolumeNode, mrVolumeNode):
        raise ValueError(f"Output node '{outputVolumeNode.GetName()}' is also an input; choose a new node.")


def start_on_shown_mr(mrVolumeNode, initialTransformNode) -> sitk.AffineTransform | None:
    """The CT→MR start (LPS) for the MR where it is shown, from ``initialTransformNode``: the transform under which
    the MR would appear near the CT. For an MR already under transforms P it is P's to-world map after the initial
    transform's from-world map, so choosing the MR's own parent as the start means "as shown" (the identity), never
    P applied twice. None without an initial transform."""
    if initialTransformNode is None:
        return None
    start = np.linalg.inv(mrml_bridge.world_to_local_lps(mrVolumeNode)) @ mrml_bridge.transform_from_world_lps(
        initialTransformNode
    )
    return frames.matrix_to_sitk_affine(start)


def _default_scene():
    import slicer  # noqa: PLC0415  (only needed inside Slicer, where it provides the application scene)

    scene = getattr(slicer, "mrmlScene", None)
    if scene is None:
        raise ValueError("No MRML scene: pass scene=... (outside the Slicer application).")
    return scene


class CTMRFusionLogic:
    """Registration and validation on MRML nodes. ``scene``: a ``vtkMRMLScene`` (default: Slicer's)."""

    def __init__(self, scene=None):
        self.scene = scene if scene is not None else _default_scene()

    def _new_node(self, class_name: str, name: str):
        node = self.scene.AddNewNodeByClass(class_name)
        node.SetName(self.scene.GenerateUniqueName(name))
        return node

    def registerVolumes(
        self,
        ctVolumeNode,
        mrVolumeNode,
        outputTransformNode=None,
        outputVolumeNode=None,
        options: RegistrationOptions | None = None,
        ctMaskNode=None,
        mrMaskNode=None,
        initialTransformNode=None,
        ctLandmarksNode=None,
        mrLandmarksNode=None,
        createOutputVolume: bool = True,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        initializer: str | None = None,
    ) -> RegisterVolumesResult:
        """Rigidly register the MR volume onto the CT volume.

        ctVolumeNode / mrVolumeNode: scalar volume nodes (any intensity scale; volumes under linear
        transforms are used where they are shown). outputTransformNode: linear transform node to receive
        the result as FromParent (created if None). outputVolumeNode: scalar volume node to receive the MR
        resampled on the CT grid with ``options.final_interpolator`` (created if None and
        ``createOutputVolume``). ctMaskNode / mrMaskNode: optional label maps, volumes (non-zero = use) or
        segmentations (visible segments) restricting the metric.
        initialTransformNode: optional linear transform node whose FromParent is the CT→MR start.
        ctLandmarksNode / mrLandmarksNode: optional markups nodes; TRE is computed before and after.
        progress / cancel: see :mod:`CTMRFusionLib.core.progress`. initializer: overrides
        ``options.initializer`` ("search", "deep", "moments", "geometry", "identity"); with "deep" the
        registration network corrects the start (``initialTransformNode`` if given, else the moments alignment).

        Raises ``ValueError`` (with a message naming the problem) for unusable inputs, and
        :class:`~CTMRFusionLib.core.progress.Cancelled` when cancelled; in both cases no node is modified.
        """
        options = options or RegistrationOptions()
        if initializer is not None:
            options = options.replace(initializer=initializer)
        check_registration_nodes(
            ctVolumeNode, mrVolumeNode, (ctMaskNode, mrMaskNode), (outputTransformNode, outputVolumeNode)
        )

        ct = mrml_bridge.volume_node_to_sitk(ctVolumeNode)
        mr = mrml_bridge.volume_node_to_sitk(mrVolumeNode)
        ct_mask, mr_mask = mask_image(ctMaskNode, ctVolumeNode), mask_image(mrMaskNode, mrVolumeNode)
        initial = start_on_shown_mr(mrVolumeNode, initialTransformNode)
        mr_world_to_local = mrml_bridge.world_to_local_lps(mrVolumeNode)
        landmarks = None
        if ctLandmarksNode is not None and mrLandmarksNode is not None:
            landmarks = (landmarks_from_markups_node(ctLandmarksNode), landmarks_from_markups_node(mrLandmarksNode))
            match_landmarks(*landmarks)  # fail now, not after the registration

        registration = register_rigid(ct, mr, options, ct_mask, mr_mask, initial, progress, cancel)
        resampled = None
        if outputVolumeNode is not None or createOutputVolume:
            resampled = resample_onto(
                mr, ct, registration.transform, options.final_interpolator, progress=progress, cancel=cancel
            )
        tre = target_registration_error(registration.transform, *landmarks) if landmarks else None

        # Everything succeeded: only now touch the scene.
        outputTransformNode, outputVolumeNode = self.storeRegistration(
            mrVolumeNode, registration.transform, resampled, outputTransformNode, outputVolumeNode, mr_world_to_local
        )
        return RegisterVolumesResult(registration, outputTransformNode, outputVolumeNode, tre)

    def storeRegistration(
        self,
        mrVolumeNode,
        transform,
        resampled=None,
        outputTransformNode=None,
        outputVolumeNode=None,
        mrWorldToLocal=None,
    ):
        """Put a finished registration into the scene. ``transform``: CT→MR (LPS) with the MR where it was shown;
        ``mrWorldToLocal``: the MR's parent transforms as they were then (4x4 LPS, world → the MR's own frame; None:
        as they are now). ``outputTransformNode`` (created, named after the MR, if None) gets the transform that
        shows the MR on the CT once the MR is placed directly under it: ``transform`` followed by the MR's own
        parents, relative to the output node's parents. So an MR under a transform keeps it (composed, not
        replaced). ``resampled`` (the MR on the CT grid, if given) goes into ``outputVolumeNode`` (created if None).
        Returns (transform node, volume node or None)."""
        if mrWorldToLocal is None:
            mrWorldToLocal = mrml_bridge.world_to_local_lps(mrVolumeNode)
        if outputTransformNode is None:
            outputTransformNode = self._new_node("vtkMRMLLinearTransformNode", f"{mrVolumeNode.GetName()} to CT")
        world_to_mr = mrWorldToLocal @ frames.sitk_transform_to_matrix(transform)
        mrml_bridge.set_transform_node_from_world(outputTransformNode, world_to_mr)
        if resampled is not None:
            if outputVolumeNode is None:
                outputVolumeNode = self._new_node("vtkMRMLScalarVolumeNode", f"{mrVolumeNode.GetName()} registered")
            mrml_bridge.update_volume_node_from_sitk(outputVolumeNode, resampled)
        return outputTransformNode, outputVolumeNode

    def fuseVolumes(
        self,
        ctVolumeNode,
        mrVolumeNode,
        outputVolumeNode=None,
        options: FusionOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ):
        """Fuse a CT and an MR already registered to it into one volume in the CT's geometry.

        mrVolumeNode: the MR on the CT (e.g. registerVolumes' output volume, or an MR under the registration
        transform — it is taken where it is shown and resampled onto the CT grid if needed).
        outputVolumeNode: scalar volume node to receive the fused volume (float, 0–255 fusion scale, see
        :mod:`CTMRFusionLib.fusion.normalization`), created if None. options: method ("unet" or a classic
        rule), model path, device, batch size, intensity windows. Returns the output node. Nothing is modified
        when inputs are invalid or the run is cancelled.
        """
        options = options or FusionOptions()
        check_fusion_nodes(ctVolumeNode, mrVolumeNode, outputVolumeNode)
        ct = mrml_bridge.volume_node_to_sitk(ctVolumeNode)
        mr = mrml_bridge.volume_node_to_sitk(mrVolumeNode)
        model = load_model_for(options.method, options.modelPath, options.device, options.modelSha256)
        fused = fuse_images(ct, mr, options.method, model, options.normalization, options.batchSize, progress, cancel)
        return self.storeFusion(fused, options.method, outputVolumeNode)

    def storeFusion(self, fused, method: str, outputVolumeNode=None):
        """Put a fused image (CT geometry, 0–255 fusion scale) into ``outputVolumeNode`` (created, named after
        ``method``, if None); returns the node."""
        if outputVolumeNode is None:
            outputVolumeNode = self._new_node("vtkMRMLScalarVolumeNode", f"CT-MR fused ({method})")
        mrml_bridge.update_volume_node_from_sitk(outputVolumeNode, fused)
        return outputVolumeNode

    def exportRegistrationToDicom(
        self,
        ctVolumeNode,
        mrVolumeNode,
        transformNode,
        registeredVolumeNode,
        folder,
        fileForInstance=None,
        interpolator: str = "sinc",
        fusedVolumeNode=None,
        fusionMethod: str = "",
    ) -> dict:
        """Write the registration ``transformNode`` shows as a DICOM Spatial Registration object, and
        ``registeredVolumeNode`` (the MR on the CT grid) as a derived MR series, in the CT's study, into ``folder``
        (new or empty; written whole or not at all). CT and MR must have been loaded from DICOM: ``fileForInstance``
        is Slicer's ``dicomDatabase.fileForInstance`` for volumes loaded from the database. ``fusedVolumeNode``
        (made by ``fusionMethod``, on the CT grid) goes in the same folder as a third series. Returns the summary
        (UIDs, the MR→CT matrix in LPS, warnings). See :mod:`CTMRFusionLib.mrml.dicom_export`."""
        from CTMRFusionLib.mrml.dicom_export import export_registration_to_dicom  # noqa: PLC0415 — pydicom

        return export_registration_to_dicom(
            ctVolumeNode,
            mrVolumeNode,
            transformNode,
            registeredVolumeNode,
            folder,
            fileForInstance,
            interpolator,
            fusedVolumeNode,
            fusionMethod,
        )

    def computeTRE(self, ctLandmarksNode, mrLandmarksNode, transformNode=None, pairing: str = "label"):
        """Landmark TRE (mm) of ``transformNode``'s CT→MR transform (identity if None), before and after: the
        transform a volume placed under the node sees (the node's parents included).

        Points are taken at their world positions (the MR points where the MR was registered, not under the
        registration); pairing "label" (default) or "order".
        """
        transform = (
            frames.matrix_to_sitk_affine(mrml_bridge.transform_from_world_lps(transformNode))
            if transformNode
            else sitk.Transform()
        )
        return target_registration_error(
            transform,
            landmarks_from_markups_node(ctLandmarksNode),
            landmarks_from_markups_node(mrLandmarksNode),
            by=pairing,
        )
