"""The registration as a DICOM Spatial Registration object (REG, SOP Class 1.2.840.10008.5.1.4.1.1.66.1).

PS3.3 C.20.2: the REG belongs to a frame of reference (here the CT's) and each item of its Registration Sequence
gives, for one other frame, the matrix that maps a point of that frame to the REG's frame, in DICOM patient
coordinates (LPS mm), row-major 4×4. Two items are written: the CT's own frame (identity) and the MR's frame, whose
matrix maps MR points to CT points: the inverse of the ITK transform file, which maps CT points to MR points.
Both items list the images they registered; the Common Instance Reference module lists every referenced series
(the MR's under its own study when that is not the CT's).
"""

from __future__ import annotations

import datetime

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from CTMRFusionLib.dicom.new_instance import new_instance, new_uid
from CTMRFusionLib.dicom.source_series import SourceSeries, references

SPATIAL_REGISTRATION_STORAGE = UID("1.2.840.10008.5.1.4.1.1.66.1")
#: Series number of the REG series (the derived image series take the numbers after it).
REG_SERIES_NUMBER = 901


def matrix_type(matrix: np.ndarray, tolerance: float = 1e-4) -> str:
    """RIGID when the 3×3 part is a rotation, RIGID_SCALE when a scaled rotation, else AFFINE (PS3.3 C.20.2.1.2)."""
    linear = np.asarray(matrix, dtype=float)[:3, :3]
    gram = linear.T @ linear
    scale = np.sqrt(np.mean(np.diag(gram)))
    if np.linalg.det(linear) > 0 and np.allclose(gram, scale**2 * np.eye(3), atol=tolerance * max(scale**2, 1)):
        return "RIGID" if abs(scale - 1.0) < tolerance else "RIGID_SCALE"
    return "AFFINE"


def _registration_item(series: SourceSeries, matrix: np.ndarray, comment: str) -> Dataset:
    matrix_item = Dataset()
    matrix_item.FrameOfReferenceTransformationMatrixType = matrix_type(matrix)
    matrix_item.FrameOfReferenceTransformationMatrix = [float(f"{v:.10g}") for v in np.asarray(matrix).ravel()]
    registration = Dataset()
    registration.FrameOfReferenceTransformationComment = comment
    registration.RegistrationTypeCodeSequence = Sequence()
    registration.MatrixSequence = Sequence([matrix_item])
    item = Dataset()
    item.FrameOfReferenceUID = series.frame_of_reference_uid
    item.ReferencedImageSequence = references(series.instances)
    item.MatrixRegistrationSequence = Sequence([registration])
    return item


def _series_reference(series: SourceSeries) -> Dataset:
    item = Dataset()
    item.SeriesInstanceUID = series.series_uid
    item.ReferencedInstanceSequence = references(series.instances)
    return item


def spatial_registration(
    ct: SourceSeries, mr: SourceSeries, mr_to_ct_lps: np.ndarray, created: datetime.datetime, description: str
) -> Dataset:
    """The REG dataset: MR frame → CT frame by ``mr_to_ct_lps`` (4×4, LPS mm), in the CT's study and frame."""
    dataset = new_instance(
        SPATIAL_REGISTRATION_STORAGE, ct, "REG", new_uid(), REG_SERIES_NUMBER, "CTMRFusion CT-MR registration", created
    )
    dataset.InstanceNumber = 1
    dataset.ContentLabel = "CTMR_REG"
    dataset.ContentDescription = description[:64]
    dataset.ContentCreatorName = ""
    dataset.RegistrationSequence = Sequence(
        [
            _registration_item(ct, np.eye(4), "CT frame of reference (identity)"),
            _registration_item(mr, mr_to_ct_lps, "MR patient coordinates to CT patient coordinates (LPS mm)"),
        ]
    )
    dataset.ReferencedSeriesSequence = Sequence([_series_reference(ct)])
    if mr.study_uid == ct.study_uid:
        dataset.ReferencedSeriesSequence.append(_series_reference(mr))
    else:
        other = Dataset()
        other.StudyInstanceUID = mr.study_uid
        other.ReferencedSeriesSequence = Sequence([_series_reference(mr)])
        dataset.StudiesContainingOtherReferencedInstancesSequence = Sequence([other])
    return dataset
