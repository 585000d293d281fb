"""A folder of DICOM output files, written all at once or not at all.

The files are written into a private folder beside the destination, then that folder is renamed into place, so a
run that fails or is killed leaves no partial series for a PACS import to pick up. The destination must be
absent or an empty folder: DICOM files of an earlier run are never mixed with, or replaced by, new ones.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from pydicom.dataset import Dataset

from CTMRFusionLib.core.errors import InvalidInputError


def check_output_folder(folder, other_outputs=(), option: str = "--dicom-out") -> Path:
    """Refuse, before any work, a destination that exists and is not an empty folder, or cannot be made, or that
    one of the run's ``other_outputs`` (file paths, None skipped) would be written into."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInputError(f"{option} {folder}: give a new or empty folder (DICOM outputs never mix with others)")
    inside = [str(path) for path in other_outputs if path and Path(path).absolute().is_relative_to(folder.absolute())]
    if inside:
        raise InvalidInputError(f"{option} {folder}: {inside[0]} would be written inside it; it holds DICOM files only")
    ancestor = folder.parent if str(folder.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{option} {folder}: cannot create a folder in {ancestor}")
    return folder


def write_dicom_folder(folder, files: dict[str, Dataset]) -> list[Path]:
    """Write ``files`` (name → dataset) into ``folder`` atomically; the paths written."""
    folder = check_output_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # A plain mkdir, not mkdtemp: the folder gets the user's usual permissions (the umask applied by the kernel),
    # with no process-wide umask change that another thread (Slicer's) could see.
    staging = folder.parent / f".ctmrfusion-dicom-{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        for name, dataset in files.items():
            dataset.save_as(staging / name, enforce_file_format=True)
        if folder.exists():
            folder.rmdir()  # empty (checked): replaced by the complete folder in one rename
        os.rename(staging, folder)
    except OSError as error:
        raise InvalidInputError(f"cannot write the DICOM outputs to {folder}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in files]
