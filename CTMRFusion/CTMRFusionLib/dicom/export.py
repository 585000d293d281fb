"""A run's DICOM outputs: what ``register --dicom-out`` and ``fuse --dicom-out`` write, from the series they read.

``register``: the Spatial Registration object (MR frame → CT frame) and the MR resampled on the CT grid as a
derived series. ``fuse``: the fused volume as a derived series. All are in the CT's patient, study and frame of
reference, so the CT must have been read from a DICOM series; for ``register`` the MR too (its frame of reference
is what the REG relates to the CT's).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from CTMRFusionLib import __version__
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.dicom.derived_series import derived_series
from CTMRFusionLib.dicom.dicomweb import store_instances
from CTMRFusionLib.dicom.output_folder import write_dicom_folder
from CTMRFusionLib.dicom.series_url import shown
from CTMRFusionLib.dicom.source_references import resampled_sources, same_grid_sources
from CTMRFusionLib.dicom.source_series import SourceSeries, read_source_series
from CTMRFusionLib.dicom.spatial_registration import REG_SERIES_NUMBER, spatial_registration
from CTMRFusionLib.io.dicom_series import choose_series

MR_ON_CT_SERIES_NUMBER = REG_SERIES_NUMBER + 1
FUSED_SERIES_NUMBER = REG_SERIES_NUMBER + 2


def read_source(path, role: str, series_uids=()) -> SourceSeries:
    """The headers of the series read as ``role`` from ``path``, which must be a DICOM folder."""
    path = Path(path)
    if not path.is_dir():
        raise InvalidInputError(
            f"--dicom-out: the {role} must be read from a DICOM series folder (the outputs join its study and frame "
            f"of reference); {path} is not one"
        )
    return read_source_series(choose_series(path, role, series_uids).files, role)


def read_registration_sources(ct_path, mr_path, series_uids=()) -> tuple[SourceSeries, SourceSeries]:
    """The CT's and the MR's series headers, refused when they share a frame of reference (already aligned
    by the scanner: there is nothing for a Spatial Registration to relate)."""
    return check_distinct_frames(read_source(ct_path, "CT", series_uids), read_source(mr_path, "MR", series_uids))


def check_distinct_frames(ct: SourceSeries, mr: SourceSeries) -> tuple[SourceSeries, SourceSeries]:
    """(ct, mr), or :class:`InvalidInputError` when they share a frame of reference."""
    if ct.frame_of_reference_uid == mr.frame_of_reference_uid:
        raise InvalidInputError(
            "DICOM export: the CT and the MR share a frame of reference (FrameOfReferenceUID "
            f"{ct.frame_of_reference_uid}); a Spatial Registration relates two different frames"
        )
    return ct, mr


def patient_mismatch(ct: SourceSeries, mr: SourceSeries) -> list[str]:
    """One warning when the two series name different patients (ID or name): the outputs file the MR under the
    CT's patient, which is right only when both are the same person (anonymised exports may differ)."""
    differ = []
    for keyword in ("PatientID", "PatientName"):
        ct_value, mr_value = str(ct.header.get(keyword, "")).strip(), str(mr.header.get(keyword, "")).strip()
        if ct_value and mr_value and ct_value != mr_value:
            differ.append(f"{keyword} {ct_value!r} vs {mr_value!r}")
    if not differ:
        return []
    return [
        f"the CT and the MR name different patients ({'; '.join(differ)}); the DICOM outputs are filed under the "
        "CT's patient: check that both series are of the same person"
    ]


@dataclass(frozen=True)
class DicomOutputs:
    """Files to write (name → dataset) and what the report says of them."""

    files: dict[str, Dataset]
    summary: dict


def deliver(outputs: DicomOutputs, args) -> dict:
    """Write ``outputs`` to ``args.dicom_out`` (atomically) and/or store them at ``args.stow``; the summary."""
    summary = dict(outputs.summary)
    if args.dicom_out:
        write_dicom_folder(args.dicom_out, outputs.files)
        summary["folder"] = str(args.dicom_out)
    if args.stow:
        stored = store_instances(args.stow, outputs.files.values())
        summary["stored"] = {"url": shown(args.stow), "instances": stored}
    return summary


def _numbered(prefix: str, datasets: list[Dataset]) -> dict[str, Dataset]:
    return {f"{prefix}_{index + 1:04d}.dcm": dataset for index, dataset in enumerate(datasets)}


def check_on_ct_grid(image: sitk.Image, ct_image: sitk.Image, what: str) -> None:
    """Refuse a volume that is not on the CT's grid (size and origin): a derived series takes the CT's geometry."""
    if image.GetSize() != ct_image.GetSize() or not np.allclose(image.GetOrigin(), ct_image.GetOrigin()):
        raise InvalidInputError(f"DICOM export: {what} is not on the CT's grid")


def registration_outputs(
    ct: SourceSeries,
    mr: SourceSeries,
    ct_image: sitk.Image,
    mr_image: sitk.Image,
    ct_to_mr: sitk.Transform,
    resampled_mr: sitk.Image,
    interpolator: str,
) -> DicomOutputs:
    """The REG and the resampled MR series for a registration ``ct_to_mr`` (ITK, LPS, CT points → MR points)."""
    check_on_ct_grid(resampled_mr, ct_image, "the MR resampled onto the CT")
    created = datetime.datetime.now()
    mr_to_ct = np.linalg.inv(sitk_transform_to_matrix(ct_to_mr))
    reg = spatial_registration(
        ct, mr, mr_to_ct, created, f"CTMRFusion {__version__} rigid CT-MR registration (Mattes MI)"
    )
    mr_description = str(mr.header.get("SeriesDescription", "")).strip() or "MR"
    derived = derived_series(
        resampled_mr,
        ct,
        mr.header,
        resampled_sources(ct_image, mr_image, mr, ct_to_mr, interpolator),
        MR_ON_CT_SERIES_NUMBER,
        f"{mr_description} on CT (CTMRFusion)",
        f"MR series {mr.series_uid} resampled onto the CT grid ({interpolator} interpolation) by CTMRFusion "
        f"{__version__}, registration {reg.SOPInstanceUID}",
        created,
        "MPR",
    )
    summary = {
        "warnings": ct.warnings + mr.warnings + patient_mismatch(ct, mr),
        "registration": {"sop_instance_uid": str(reg.SOPInstanceUID), "series_uid": str(reg.SeriesInstanceUID)},
        "mr_on_ct": {"series_uid": str(derived[0].SeriesInstanceUID), "images": len(derived)},
        "study_uid": ct.study_uid,
        "frame_of_reference_uid": ct.frame_of_reference_uid,
        "mr_to_ct_matrix_lps": [[float(v) for v in row] for row in mr_to_ct],
    }
    return DicomOutputs({"reg_0001.dcm": reg, **_numbered("mr_on_ct", derived)}, summary)


def fusion_outputs(ct: SourceSeries, ct_image: sitk.Image, fused: sitk.Image, method: str) -> DicomOutputs:
    """The fused volume (on the CT's grid) as a derived series whose slices reference the CT's."""
    check_on_ct_grid(fused, ct_image, "the fused volume")
    created = datetime.datetime.now()
    derived = derived_series(
        fused,
        ct,
        None,
        same_grid_sources(ct_image, ct),
        FUSED_SERIES_NUMBER,
        f"CT+MR fused ({method}, CTMRFusion)",
        f"CT series {ct.series_uid} fused with the registered MR ({method}, 0-255 display scale) by CTMRFusion "
        f"{__version__}; not Hounsfield units",
        created,
        "OTHER",
    )
    summary = {
        "warnings": ct.warnings,
        "fused": {"series_uid": str(derived[0].SeriesInstanceUID), "images": len(derived)},
        "study_uid": ct.study_uid,
        "frame_of_reference_uid": ct.frame_of_reference_uid,
    }
    return DicomOutputs(_numbered("fused", derived), summary)
