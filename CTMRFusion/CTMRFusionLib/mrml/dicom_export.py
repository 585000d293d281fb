"""The panel's DICOM export: a registration held in the scene as the Spatial Registration object and the
registered MR as a derived series, in the CT's study, exactly as ``register --dicom-out`` writes them.

Which DICOM files a volume node came from, as Slicer records it:

- loaded from Slicer's DICOM database, the node's ``DICOM.instanceUIDs`` attribute lists its SOP instance UIDs
  and the database (``slicer.dicomDatabase.fileForInstance``) gives each one's file: pass that lookup;
- loaded from a file of a DICOM series ("Add Data"), its storage node names that file: the series with the
  same Series Instance UID in that folder.

Frames: the registration shown in the scene is read from the transform node (world → the MR's own frame, LPS).
The CT must be under no transform (its world frame is then its DICOM patient frame); the MR may be, and the
exported matrix relates the MR series' own patient frame to the CT's.
"""

from __future__ import annotations

from pathlib import Path

import pydicom

from CTMRFusionLib.core import frames
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.export import check_distinct_frames, fusion_outputs, registration_outputs
from CTMRFusionLib.dicom.output_folder import write_dicom_folder
from CTMRFusionLib.dicom.source_series import SourceSeries, read_source_series
from CTMRFusionLib.io.dicom_series import choose_series
from CTMRFusionLib.mrml import bridge

#: The volume node attribute Slicer's DICOM plugins set: the SOP instance UIDs the volume was loaded from.
INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"


def series_files(volume_node, role: str, file_for_instance=None) -> list[str]:
    """The DICOM files ``volume_node`` was loaded from (see the module docstring), or :class:`InvalidInputError`."""
    uids = (volume_node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) or "").split()
    if uids and file_for_instance is not None:
        files = [file_for_instance(uid) for uid in uids]
        if all(files):
            return [str(name) for name in files]
    storage = volume_node.GetStorageNode()
    name = storage.GetFileName() if storage is not None else None
    if name and Path(name).is_file():
        try:
            series_uid = pydicom.dcmread(name, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
            return list(choose_series(Path(name).parent, role, [str(series_uid.SeriesInstanceUID)]).files)
        except (pydicom.errors.InvalidDicomError, AttributeError, OSError):
            pass
    raise InvalidInputError(
        f"{role} '{volume_node.GetName()}' was not loaded from DICOM (no DICOM database entry or series file): "
        "DICOM export needs the CT and the MR as loaded from their series"
    )


def export_registration_to_dicom(
    ct_node,
    mr_node,
    transform_node,
    resampled_node,
    folder,
    file_for_instance=None,
    interpolator: str = "sinc",
    fused_node=None,
    fusion_method: str = "",
) -> dict:
    """Write the REG (from ``transform_node``, the registration as the scene shows it), ``resampled_node`` (the
    MR on the CT grid) and, if given, ``fused_node`` (made by ``fusion_method``) into ``folder`` (new or empty), in
    one atomic write; the export's summary (UIDs, matrix, warnings)."""
    if ct_node.GetParentTransformNode() is not None:
        raise InvalidInputError(
            f"CT '{ct_node.GetName()}' is under a transform: DICOM export needs the CT where its series puts it"
        )
    if transform_node is None or resampled_node is None:
        raise InvalidInputError("DICOM export needs a registration and its registered MR volume: register first")
    ct: SourceSeries = read_source_series(series_files(ct_node, "CT", file_for_instance), "CT")
    mr: SourceSeries = read_source_series(series_files(mr_node, "MR", file_for_instance), "MR")
    check_distinct_frames(ct, mr)
    ct_image = bridge.volume_node_to_sitk(ct_node)
    resampled = bridge.volume_node_to_sitk(resampled_node)
    # world (= the CT's patient frame) → the MR series' own patient frame, as the transform node shows it
    ct_to_mr = frames.matrix_to_sitk_affine(bridge.transform_from_world_lps(transform_node))
    mr_image = bridge.volume_node_to_sitk(mr_node, include_parent_transforms=False)
    outputs = registration_outputs(ct, mr, ct_image, mr_image, ct_to_mr, resampled, interpolator)
    files, summary = dict(outputs.files), {"folder": str(folder), **outputs.summary}
    if fused_node is not None:
        fusion = fusion_outputs(ct, ct_image, bridge.volume_node_to_sitk(fused_node), fusion_method or "fusion")
        files.update(fusion.files)
        summary["fused"] = fusion.summary["fused"]
    write_dicom_folder(folder, files)
    return summary
