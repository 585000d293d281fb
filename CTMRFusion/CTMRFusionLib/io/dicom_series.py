"""Choosing the DICOM series of a folder: never silently the wrong one.

A folder may hold several series (a CT and an MR, a scout, several MR sequences). The series read is:

1. the one named by a series instance UID the user gave (``--series UID``; UIDs are unique, so one option can
   name the CT's and the MR's series, each found in its own folder);
2. else the only series, or the only series whose Modality matches the role (``CT`` for a CT, ``MR`` for an MR);
3. else none: :class:`InvalidInputError` lists the series (UID, modality, description, files) and asks for
   ``--series``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError

#: DICOM tags read from each series' first file.
MODALITY, DESCRIPTION = "0008|0060", "0008|103e"


@dataclass(frozen=True)
class DicomSeries:
    """One series of a folder: its instance UID, modality (e.g. "CT", "MR"), description and files (sorted)."""

    uid: str
    modality: str
    description: str
    files: tuple[str, ...]

    def line(self) -> str:
        return f"{self.uid} ({self.modality or '?'}, {self.description or 'no description'}, {len(self.files)} files)"


def _tag(path: str, tag: str) -> str:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
        return reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else ""
    except RuntimeError:
        return ""


def list_series(folder) -> list[DicomSeries]:
    """Every DICOM series in ``folder`` (not its sub-folders)."""
    reader = sitk.ImageSeriesReader()
    found = []
    for uid in reader.GetGDCMSeriesIDs(str(folder)):
        files = tuple(reader.GetGDCMSeriesFileNames(str(folder), uid))
        if files:
            found.append(DicomSeries(uid, _tag(files[0], MODALITY).upper(), _tag(files[0], DESCRIPTION), files))
    return found


def choose_series(folder, role: str, wanted_uids=()) -> DicomSeries:
    """The series of ``folder`` to read as ``role`` ("CT", "MR", …), chosen as the module docstring says."""
    folder = Path(folder)
    series = list_series(folder)
    if not series:
        raise InvalidInputError(f"{role}: no DICOM series in folder {folder}")
    named = [s for s in series if s.uid in set(wanted_uids or ())]
    if len(named) == 1:
        return named[0]
    if len(series) == 1:
        return series[0]
    modality = role.split()[0].upper()
    matching = [s for s in series if s.modality == modality]
    if len(matching) == 1:
        return matching[0]
    listing = "; ".join(s.line() for s in series)
    raise InvalidInputError(
        f"{role}: folder {folder} holds {len(series)} DICOM series, choose one with --series UID: {listing}"
    )
