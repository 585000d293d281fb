"""Test volumes written as DICOM series, the way a scanner's export lays them out: one CT or MR Image Storage
file per slice, with the patient, study and frame of reference the test chooses.

Written with pydicom directly (not with the project's DICOM code, which the tests check against these series).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}
PATIENT = {"PatientName": "MRI-DIR-zzmeatphantom", "PatientID": "MRI-DIR-zzmeatphantom", "PatientBirthDate": ""}


def write_series(
    image: sitk.Image,
    folder,
    modality: str,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    description: str = "",
    patient_position: str = "HFS",
    patient: dict | None = None,
    declare_frame: bool = True,
) -> dict:
    """Write ``image`` (3D, integer voxels) as a ``modality`` series in ``folder``; its UIDs. ``declare_frame``
    False leaves FrameOfReferenceUID out, as some converters do."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    uids = {
        "study": study_uid or generate_uid(),
        "series": generate_uid(),
        "frame": frame_uid or generate_uid(),
        "instances": [],
    }
    voxels = sitk.GetArrayFromImage(image).astype(np.int16)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    for k in range(voxels.shape[0]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        uids["instances"].append(str(ds.SOPInstanceUID))
        for keyword, value in (patient or PATIENT).items():
            setattr(ds, keyword, value)
        ds.PatientSex = "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
        if declare_frame:
            ds.FrameOfReferenceUID = uids["frame"]
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20180101", "120000", "1", ""
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription = modality, 2 if modality == "CT" else 5, description
        ds.PatientPosition, ds.PositionReferenceIndicator = patient_position, ""
        ds.Manufacturer, ds.InstanceNumber = "test", k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope, ds.KVP, ds.AcquisitionNumber = 0, 1, "120", 1
        else:
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "SE", "SK", "", "2D"
            ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength, ds.MagneticFieldStrength = 6285, 98.1, 16, 3
        ds.ImagePositionPatient = list(image.TransformIndexToPhysicalPoint((0, 0, k)))
        ds.ImageOrientationPatient = [*direction[:, 0], *direction[:, 1]]
        ds.PixelSpacing = [image.GetSpacing()[1], image.GetSpacing()[0]]
        ds.SliceThickness = image.GetSpacing()[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = voxels.shape[1], voxels.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = voxels[k].tobytes()
        ds.save_as(folder / f"IM{k + 1:05d}", enforce_file_format=True)
    return uids
