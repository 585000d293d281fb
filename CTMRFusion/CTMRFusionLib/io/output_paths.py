"""Output paths checked before any work: never onto an input or its companion files, never two outputs onto
one file, and only where the run can write.

A file is compared by identity (device and inode: hard links and symbolic links are the same file) and by name
in any letter case (``a.MHD`` is ``a.mhd`` on case-insensitive file systems), together with every file its
writer creates (``X.hdr`` also writes ``X.img``; ``a.mhd`` writes ``a.raw`` or ``a.zraw``). An image or transform
output must name its format in lower case, the only case ITK recognises. Nothing is created
here: folders are made when the outputs are written, so a run that fails leaves no empty output folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.companion_files import companion_files, written_names


def _key(path: Path) -> tuple[str, str]:
    """(resolved folder, lower-case name): equal for the same file named in another case or through a link."""
    return str(path.parent.resolve()), path.name.lower()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _input_files(inputs) -> list[Path]:
    files = []
    for item in inputs:
        if item is None:
            continue
        item = Path(item)
        if item.is_dir():
            files += [p for p in item.iterdir() if p.is_file()] + [item]
        else:
            files += [item, *companion_files(item)]
    return files


def _writable_folder(path: Path) -> None:
    """The output's folder, or its nearest existing ancestor, must be a folder this process can write in."""
    folder = path.parent if str(path.parent) else Path(".")
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"cannot write {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot write {path}: no permission to write in {ancestor}")
    if path.is_dir():
        raise InvalidInputError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():  # a device, FIFO or socket: never replaced by a file
        raise InvalidInputError(f"cannot write {path}: it is not a regular file")


#: Suffixes SimpleITK chooses a writer by. It matches them in lower case only: an output named ``b.MHA`` is not
#: written as a MetaImage file but falls back to another writer's naming, which can replace ``b.mhd``/``b.zraw``.
ITK_SUFFIXES = (
    ".mha", ".mhd", ".raw", ".zraw", ".nrrd", ".nhdr", ".nii", ".nii.gz", ".hdr", ".img", ".img.gz", ".h5", ".hdf5",
    ".tfm", ".txt", ".mat", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".vtk", ".gipl", ".gipl.gz", ".dcm",
)  # fmt: skip


def _itk_suffix_in_lower_case(option: str, path: Path) -> None:
    name = path.name
    for suffix in sorted(ITK_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            if not name.endswith(suffix):
                lower = name[: len(name) - len(suffix)] + suffix
                raise InvalidInputError(
                    f"{option} {path}: write it with a lower-case extension ({lower}); ITK does not recognise "
                    f"'{name[len(name) - len(suffix) :]}' and would write other files"
                )
            return


def check_outputs(outputs: dict, inputs) -> dict[str, Path]:
    """Check every output before the work starts; return ``{option: Path}`` for the outputs given.

    ``outputs``: option name (e.g. ``"--volume"``) → path or None. ``inputs``: the input paths (files or DICOM
    folders; None entries are skipped). Raises :class:`InvalidInputError` naming the option and the file.
    """
    given = {option: Path(path) for option, path in outputs.items() if path}
    protected = _input_files(inputs)
    protected_keys = {_key(p): p for p in protected}
    protected_ids = {i: p for p in protected if (i := _identity(p)) is not None}
    claimed: dict[tuple[str, str], str] = {}
    for option, path in given.items():
        _writable_folder(path)
        for name in written_names(path):
            victim = protected_keys.get(_key(name)) or protected_ids.get(_identity(name))
            if victim is not None:
                raise InvalidInputError(
                    f"{option} {path} would overwrite the input file {victim}; choose another output name"
                )
            other = claimed.get(_key(name))
            if other is not None and other != option:
                raise InvalidInputError(f"{option} {path} and {other} would write the same file {name.name}")
            claimed[_key(name)] = option
        _itk_suffix_in_lower_case(option, path)
    return given
