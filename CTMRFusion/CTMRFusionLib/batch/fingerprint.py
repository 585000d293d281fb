"""A case's fingerprint: SHA-256 of its input files' contents and of everything that changes its result.

Two runs with the same fingerprint compute the same outputs, so a batch that finds a case's outputs and an equal
fingerprint skips it. Inputs are hashed by content (a file, its companion data file, every file of a DICOM folder),
never by name or modification time, so a copied cohort resumes and an edited input is recomputed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK_BYTES = 1 << 20
#: Header formats whose voxels live in a second file beside the header.
_DATA_FILE_SUFFIXES = {".hdr": (".img", ".img.gz"), ".nhdr": (".raw", ".raw.gz")}


def companion_files(path: Path) -> list[Path]:
    """Files that the image file ``path`` depends on besides itself (MetaImage/NRRD data files, Analyze .img)."""
    path = Path(path)
    found = []
    lower = path.name.lower()
    if lower.endswith(".mhd") or lower.endswith(".nhdr"):
        key = "elementdatafile" if lower.endswith(".mhd") else "data file"
        separator = "=" if lower.endswith(".mhd") else ":"
        for line in path.read_text(errors="replace").splitlines()[:200]:
            name, _, value = line.partition(separator)
            if name.strip().lower() in (key, "datafile") and value.strip() and value.strip().upper() != "LOCAL":
                candidate = path.parent / value.strip()
                if candidate.is_file():
                    found.append(candidate)
    for suffix, data_suffixes in _DATA_FILE_SUFFIXES.items():
        if lower.endswith(suffix):
            stem = path.name[: -len(suffix)]
            found += [s for s in path.parent.iterdir() if s.name.lower() in {(stem + d).lower() for d in data_suffixes}]
    return sorted(set(found))


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)


def hash_input(path) -> str:
    """SHA-256 (hex) of one input: a file with its companions, or every file under a folder (sorted by name)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        files = [path, *companion_files(path)]
    for item in files:
        digest.update(str(item.relative_to(path) if path.is_dir() else item.name).encode() + b"\0")
        _hash_file(digest, item)
    return digest.hexdigest()


def case_fingerprint(inputs: dict, settings: dict) -> str:
    """SHA-256 over the named inputs' content hashes (``{role: path or None}``) and the JSON of ``settings``."""
    record = {
        "inputs": {role: hash_input(path) if path else None for role, path in sorted(inputs.items())},
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
