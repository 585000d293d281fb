"""The DICOM series a run read, as the outputs need it: who and which study (copied into every output), the frame
of reference, and each instance's SOP Class and Instance UIDs and position (the references outputs carry).

Headers only are read (pydicom, no pixel data): the voxels come from SimpleITK's reading of the same files.

A series without a FrameOfReferenceUID (some converters and scripted exports omit it) is given one derived from
its SeriesInstanceUID (``2.25.`` + a name-based UUID: the same series always gets the same frame), and the run
warns: outputs need a frame, and no system can relate them to a series that declares none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence

from CTMRFusionLib.core.errors import InvalidInputError


@dataclass(frozen=True)
class SourceInstance:
    """One image of a source series: its UIDs and its ImagePositionPatient (LPS mm; None when absent)."""

    sop_class_uid: str
    sop_instance_uid: str
    position: tuple[float, float, float] | None

    def reference(self) -> pydicom.Dataset:
        """The item that names this image in a referencing sequence (Referenced SOP Class and Instance UIDs)."""
        item = pydicom.Dataset()
        item.ReferencedSOPClassUID = self.sop_class_uid
        item.ReferencedSOPInstanceUID = self.sop_instance_uid
        return item


def references(instances) -> Sequence:
    """A sequence of :meth:`SourceInstance.reference` items, in the order given."""
    return Sequence([instance.reference() for instance in instances])


@dataclass(frozen=True)
class SourceSeries:
    """A source series: the first file's header (patient, study, frame, acquisition) and every instance."""

    role: str
    header: pydicom.Dataset
    instances: tuple[SourceInstance, ...]

    @property
    def series_uid(self) -> str:
        return str(self.header.SeriesInstanceUID)

    @property
    def study_uid(self) -> str:
        return str(self.header.StudyInstanceUID)

    @property
    def declared_frame_of_reference_uid(self) -> str:
        """The series' own FrameOfReferenceUID ("" when it declares none)."""
        return str(self.header.get("FrameOfReferenceUID", "")).strip()

    @property
    def frame_of_reference_uid(self) -> str:
        return self.declared_frame_of_reference_uid or derived_frame_of_reference(self.series_uid)

    @property
    def warnings(self) -> list[str]:
        if self.declared_frame_of_reference_uid:
            return []
        return [
            f"the {self.role} series declares no FrameOfReferenceUID; the DICOM outputs use "
            f"{self.frame_of_reference_uid}, derived from its SeriesInstanceUID"
        ]

    def slice_order(self, slice_normal_lps) -> np.ndarray:
        """Instance indices sorted by position along ``slice_normal_lps`` (the order SimpleITK stacks them)."""
        heights = [np.dot(i.position or (0.0, 0.0, 0.0), slice_normal_lps) for i in self.instances]
        return np.argsort(heights, kind="stable")


#: What every source series must carry for outputs to refer to it.
_REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def derived_frame_of_reference(series_uid: str) -> str:
    """The frame of reference UID given to a series that declares none: the same for the same series."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'CTMRFusion frame of reference of {series_uid}').int}"


def read_source_series(files, role: str) -> SourceSeries:
    """The headers of ``files`` (one series, as chosen by :mod:`CTMRFusionLib.io.dicom_series`)."""
    header, instances = None, []
    for name in files:
        try:
            dataset = pydicom.dcmread(name, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError) as error:
            raise InvalidInputError(f"{role}: cannot read the DICOM header of {name}: {error}") from None
        missing = [keyword for keyword in _REQUIRED if not str(dataset.get(keyword, "")).strip()]
        if missing:
            raise InvalidInputError(
                f"{role}: {name} has no {', '.join(missing)}; DICOM outputs need the source's study and instance "
                "identifiers"
            )
        position = dataset.get("ImagePositionPatient")
        instances.append(
            SourceInstance(
                str(dataset.SOPClassUID),
                str(dataset.SOPInstanceUID),
                tuple(float(v) for v in position) if position is not None and len(position) == 3 else None,
            )
        )
        header = header or dataset
    if header is None:
        raise InvalidInputError(f"{role}: no DICOM files")
    return SourceSeries(role, header, tuple(instances))
