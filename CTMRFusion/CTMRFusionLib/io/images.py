"""Reading and writing images and transforms for the command line, with errors that name the file.

Inputs: anything SimpleITK reads (NRRD, NIfTI, MHA/MHD, Analyze .hdr/.img, single DICOM files…) and DICOM
series folders. Outputs are written into a temporary folder first and then moved into place, so a failed run
leaves no half-written file (output paths are checked beforehand by :mod:`.output_paths`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.atomic_files import write_atomically
from CTMRFusionLib.io.dicom_series import choose_series

#: Metadata key of an image read from a DICOM folder: the series instance UID that was read.
SERIES_UID_KEY = "ctmrfusion_series_uid"


def read_image(path, role: str = "image", series=()) -> sitk.Image:
    """Read an image file or a DICOM series folder; ``role`` ("CT", "MR", …) names it in errors.

    From a folder with several series, the series is chosen by :func:`~CTMRFusionLib.io.dicom_series.choose_series`
    (``series``: UIDs the user named); its UID is kept in the image's metadata under :data:`SERIES_UID_KEY`.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{role} not found: {path}")
    if path.is_dir():
        chosen = choose_series(path, role, series)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(chosen.files)
        try:
            image = reader.Execute()
        except RuntimeError as error:
            raise InvalidInputError(f"{role}: cannot read the DICOM series in {path}: {_first_line(error)}") from error
        image.SetMetaData(SERIES_UID_KEY, chosen.uid)
        return image
    try:
        _check_declared_size(path, role)
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InvalidInputError(f"{role}: cannot read {path} ({_first_line(error)})") from error
    except MemoryError:
        raise InvalidInputError(f"{role}: {path} does not fit in memory") from None


#: Largest share of the machine's memory one input image may claim in its header.
MEMORY_SHARE = 0.5


def _check_declared_size(path: Path, role: str) -> None:
    """Refuse, before reading the voxels, a file whose header declares more voxels than memory can hold (a
    corrupted or hostile header), judged from the header alone."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    voxels = float(np.prod([float(n) for n in reader.GetSize()], dtype=float))
    bytes_per_voxel = sitk.Image([1] * reader.GetDimension(), reader.GetPixelID()).GetSizeOfPixelComponent()
    declared = voxels * bytes_per_voxel * reader.GetNumberOfComponents()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if declared > MEMORY_SHARE * memory:
        size = " × ".join(str(n) for n in reader.GetSize())
        raise InvalidInputError(
            f"{role}: {path} declares {size} voxels ({declared / 2**30:.1f} GiB), more than half of this machine's "
            f"{memory / 2**30:.0f} GiB: a corrupted header?"
        )


def grey_array(image: sitk.Image, role: str = "image") -> np.ndarray:
    """The pixels of a grey image as an array; RGB(A) images become their luminance (Rec. 601 weights),
    rounded back to uint8 when the channels are 8-bit. Other multi-channel images are refused."""
    array = sitk.GetArrayFromImage(image)
    channels = image.GetNumberOfComponentsPerPixel()
    if channels == 1:
        return array
    if channels not in (3, 4):
        raise InvalidInputError(f"{role} has {channels} channels; use a grey image.")
    luminance = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.rint(luminance).astype(np.uint8) if image.GetPixelID() == sitk.sitkVectorUInt8 else luminance


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    meaningful = [line for line in lines if "ITK" not in line[:12] and not line.startswith("/")]
    return (meaningful or lines or ["unknown error"])[-1][:200]


def write_image(image: sitk.Image, path) -> None:
    """Write ``image`` atomically (compressed where the format allows)."""
    path = Path(path)
    try:
        write_atomically(path, lambda name: sitk.WriteImage(image, name, True))
    except RuntimeError as error:
        raise InvalidInputError(f"cannot write {path}: {_first_line(error)}") from None


def write_transform(transform: sitk.Transform, path) -> None:
    """Write an ITK transform file (.tfm, .txt or .h5) atomically."""
    path = Path(path)
    try:
        write_atomically(path, lambda name: sitk.WriteTransform(transform, name))
    except RuntimeError as error:
        raise InvalidInputError(f"cannot write {path}: {_first_line(error)}") from None


def read_transform(path) -> sitk.Transform:
    """An ITK transform file (.tfm, .txt, .h5), or an error naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Transform file {path} not found.")
    try:
        return sitk.ReadTransform(str(path))
    except RuntimeError as error:
        raise InvalidInputError(
            f"cannot read transform file {path}: {str(error).strip().splitlines()[-1][:160]}"
        ) from None
