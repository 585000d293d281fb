"""What every DICOM object CTMRFusion writes has in common: it joins the CT's patient, study and frame of
reference, belongs to a new series, and says who made it and when.

The patient and study attributes are copied from the CT unchanged (the outputs sit in the CT's study, where a
planning system looks for them); every UID the outputs introduce is new (``2.25.`` + a random UUID, PS3.5 B.2).
"""

from __future__ import annotations

import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from CTMRFusionLib import __version__
from CTMRFusionLib.dicom.source_series import SourceSeries

#: Patient and General Study attributes copied from the CT (those of the CT's header that are present).
PATIENT_AND_STUDY = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDsSequence",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
)
#: Type 2 attributes of the Patient and General Study modules: present (empty when the CT lacks them).
_TYPE_2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime")
_TYPE_2 += ("ReferringPhysicianName", "StudyID", "AccessionNumber")

MANUFACTURER = "CTMRFusion"


def new_uid() -> str:
    """A new UID under the UUID-derived root 2.25 (no organisation root needed, unique by construction)."""
    return generate_uid(prefix=None)


def new_instance(
    sop_class_uid: str,
    ct: SourceSeries,
    modality: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    created: datetime.datetime,
) -> Dataset:
    """A dataset of ``sop_class_uid`` in ``ct``'s patient, study and frame of reference, in a new series."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    dataset.file_meta.ImplementationVersionName = f"CTMRFUSION_{__version__}"[:16]
    for keyword in PATIENT_AND_STUDY:
        if keyword in ct.header:
            setattr(dataset, keyword, ct.header[keyword].value)
    for keyword in _TYPE_2:
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    dataset.SOPClassUID = sop_class_uid
    dataset.SOPInstanceUID = new_uid()
    dataset.file_meta.MediaStorageSOPClassUID = sop_class_uid
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.InstanceCreationDate, dataset.InstanceCreationTime = _date(created), _time(created)
    dataset.Modality = modality
    dataset.SeriesInstanceUID = series_uid
    dataset.SeriesNumber = series_number
    dataset.SeriesDescription = series_description[:64]
    dataset.SeriesDate, dataset.SeriesTime = _date(created), _time(created)
    # Laterality is type 2C (paired body parts): the CT's when it has one, else present and empty (unknown).
    dataset.Laterality = ct.header.get("Laterality", "")
    if "BodyPartExamined" in ct.header:
        dataset.BodyPartExamined = ct.header.BodyPartExamined
    dataset.ContentDate, dataset.ContentTime = _date(created), _time(created)
    dataset.FrameOfReferenceUID = ct.frame_of_reference_uid
    dataset.PositionReferenceIndicator = ct.header.get("PositionReferenceIndicator", "")
    dataset.Manufacturer = MANUFACTURER
    dataset.ManufacturerModelName = MANUFACTURER
    dataset.DeviceSerialNumber = f"software {__version__}"  # software has no serial number
    dataset.SoftwareVersions = __version__
    return dataset


def _date(moment: datetime.datetime) -> str:
    return moment.strftime("%Y%m%d")


def _time(moment: datetime.datetime) -> str:
    return moment.strftime("%H%M%S.%f")
