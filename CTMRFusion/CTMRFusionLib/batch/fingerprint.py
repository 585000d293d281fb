"""A case's fingerprint: SHA-256 of its input files' contents and of everything that changes its result.

Two runs with the same fingerprint compute the same outputs, so a batch that finds a case's outputs and an equal
fingerprint skips it. Inputs are hashed by content (a file, its companion data file, every file of a DICOM folder),
never by name or modification time, so a copied cohort resumes and an edited input is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from CTMRFusionLib.io.companion_files import companion_files

CHUNK_BYTES = 1 << 20


def _hash_file(digest, path: Path, deadline: float | None = None) -> None:
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            _check(deadline)


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError("timed out while reading the inputs (case limit reached)")


def hash_input(path, deadline: float | None = None) -> str:
    """SHA-256 (hex) of one input: a file with its companions, or every file under a folder (sorted by name);
    :class:`TimeoutError` past ``deadline`` (a ``time.monotonic()`` value)."""
    path = Path(path)
    digest = hashlib.sha256()
    _check(deadline)
    if path.is_dir():
        files = []
        for item in path.rglob("*"):
            _check(deadline)
            if item.is_file():
                files.append(item)
        files.sort()
    else:
        files = [path, *companion_files(path)]
    for item in files:
        digest.update(str(item.relative_to(path) if path.is_dir() else item.name).encode() + b"\0")
        _hash_file(digest, item, deadline)
    return digest.hexdigest()


def case_fingerprint(inputs: dict, settings: dict, deadline: float | None = None) -> str:
    """SHA-256 over the named inputs' content hashes (``{role: path or None}``) and the JSON of ``settings``;
    :class:`TimeoutError` past ``deadline``."""
    record = {
        "inputs": {role: hash_input(path, deadline) if path else None for role, path in sorted(inputs.items())},
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
