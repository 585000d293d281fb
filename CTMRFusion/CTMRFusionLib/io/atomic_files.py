"""Atomic output files: written beside their destination under a temporary name, then renamed into place.

A run that fails, is interrupted or fills the disk leaves the destination as it was (absent or the previous
version), never a truncated file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_atomically(path, write) -> None:
    """Run ``write(name)`` into a private folder beside ``path``, then move what it wrote into place.

    The final file name is used inside the folder, so formats that write several files which refer to each
    other by name (Analyze .hdr/.img, MetaImage .mhd/.raw) stay consistent.
    """
    path = Path(path)
    if str(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".ctmrfusion-", dir=str(path.parent or ".")))
    try:
        try:
            write(str(folder / path.name))
        except OSError as error:  # said of the destination: the private folder is no business of the user's
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None
        except RuntimeError as error:
            raise RuntimeError(
                str(error).replace(str(folder / path.name), str(path)).replace(str(folder), "")
            ) from None
        for produced in folder.iterdir():
            os.replace(produced, path.parent / produced.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomically(path, lambda name: Path(name).write_text(text, encoding="utf-8"))
