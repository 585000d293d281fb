"""A case's fingerprint: SHA-256 of its input files' contents and of everything that changes its result.

Two runs with the same fingerprint compute the same outputs, so a batch that finds a case's outputs and an equal
fingerprint skips it. Inputs are hashed by content (a file, its companion data file, every file of a DICOM folder),
never by name or modification time, so a copied cohort resumes and an edited input is recomputed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from CTMRFusionLib.io.companion_files import companion_files

CHUNK_BYTES = 1 << 20


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
