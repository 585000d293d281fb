"""A volume on the CT's grid as a derived DICOM image series (MR Image Storage, ``DERIVED\\SECONDARY``) in the CT's
study and frame of reference: the MR resampled onto the CT, and the fused volume.

Why MR Image Storage for both: planning systems import CT and MR image series, and a CT series is what they
compute dose on, from its Hounsfield units. Neither output holds HU, so neither is written as CT; the fused volume
(on a 0–255 display scale) is an MR-type image derived from the CT and the MR, which no system takes for
electron density.

Geometry: one slice per CT grid slice, with the grid's direction (ImageOrientationPatient), origin and spacing, so
that SimpleITK reads the series back with the CT's grid. Values are rounded to integers (the MR Image IOD has
no rescale) and clamped to the stored range (16 bits, signed when any value is negative).
"""

from __future__ import annotations

import datetime

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import UID

from CTMRFusionLib.dicom.new_instance import new_instance, new_uid
from CTMRFusionLib.dicom.source_series import SourceInstance, SourceSeries, references

MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")

#: MR Image module attributes copied from the source MR's header when it has them (type 1 and 2 ones are
#: filled in below when it does not).
MR_ACQUISITION = (
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "SequenceName",
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "EchoTrainLength",
    "TriggerTime",
    "NumberOfAverages",
    "ImagingFrequency",
    "ImagedNucleus",
    "EchoNumbers",
    "MagneticFieldStrength",
    "FlipAngle",
)
#: Type 1 MR attributes with their values for an image that no MR acquisition describes (research mode).
_MR_TYPE_1 = {"ScanningSequence": "RM", "SequenceVariant": "NONE"}
_MR_TYPE_2 = ("ScanOptions", "MRAcquisitionType", "RepetitionTime", "EchoTime", "EchoTrainLength")


def _stored(array: np.ndarray) -> tuple[np.ndarray, int]:
    """(16-bit integer voxels, PixelRepresentation): rounded and clamped, signed only when a value is negative."""
    rounded = np.rint(np.nan_to_num(array.astype(np.float64), nan=0.0))
    if rounded.min() < 0:
        return np.clip(rounded, -32768, 32767).astype(np.int16), 1
    return np.clip(rounded, 0, 65535).astype(np.uint16), 0


def _window(values: np.ndarray) -> tuple[float, float]:
    """Window centre and width covering the 1st to the 99th percentile of the non-background voxels."""
    foreground = values[values > values.min()] if np.any(values > values.min()) else values
    low, high = np.percentile(foreground, [1.0, 99.0])
    return float((low + high) / 2.0), float(max(high - low, 1.0))


def derived_series(
    image: sitk.Image,
    ct: SourceSeries,
    mr_header: Dataset | None,
    sources: list[tuple[SourceInstance, ...]],
    series_number: int,
    description: str,
    derivation: str,
    created: datetime.datetime,
    processing: str,
) -> list[Dataset]:
    """One MR Image Storage dataset per slice of ``image`` (a 3D volume on the CT's grid), slice 0 first.

    ``mr_header``: the source MR's header, whose acquisition attributes the images keep (None: research mode);
    ``sources``: each slice's source images (:mod:`.source_references`); ``processing``: ImageType value 3, the
    image processing applied (PS3.3 C.8.3.1.1.1 defined terms, e.g. MPR for a resampled MR).
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("a DICOM image series is written from a 3D grey volume")
    voxels, signed = _stored(sitk.GetArrayViewFromImage(image))
    centre, width = _window(voxels)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    spacing = image.GetSpacing()
    series_uid = new_uid()
    slices = []
    for k in range(image.GetSize()[2]):
        dataset = new_instance(MR_IMAGE_STORAGE, ct, "MR", series_uid, series_number, description, created)
        for keyword in MR_ACQUISITION:
            if mr_header is not None and keyword in mr_header:
                setattr(dataset, keyword, mr_header[keyword].value)
        for keyword, value in _MR_TYPE_1.items():
            if not dataset.get(keyword):
                setattr(dataset, keyword, value)
        for keyword in _MR_TYPE_2:
            if keyword not in dataset:
                setattr(dataset, keyword, None)
        dataset.PatientPosition = ct.header.get("PatientPosition", "")
        dataset.ImageType = ["DERIVED", "SECONDARY", processing]
        dataset.DerivationDescription = derivation[:1024]
        if sources[k]:
            dataset.SourceImageSequence = references(sources[k])
        dataset.InstanceNumber = k + 1
        dataset.ImagePositionPatient = [f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        dataset.ImageOrientationPatient = [f"{v:.8f}" for v in (*direction[:, 0], *direction[:, 1])]
        dataset.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[0]:.6f}"]  # between rows, between columns
        dataset.SliceThickness = f"{spacing[2]:.6f}"
        dataset.SpacingBetweenSlices = f"{spacing[2]:.6f}"
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.Rows, dataset.Columns = voxels.shape[1], voxels.shape[2]
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
        dataset.PixelRepresentation = signed
        dataset.WindowCenter, dataset.WindowWidth = f"{centre:.1f}", f"{width:.1f}"
        dataset.PixelData = np.ascontiguousarray(voxels[k]).tobytes()
        slices.append(dataset)
    return slices
