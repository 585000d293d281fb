"""Where ``Resources/`` lies: at the top of a checkout, or beside ``CTMRFusionLib/`` in an installed extension.

The sample data and the shipped models are found through :func:`resource_path` only.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

#: Candidate ``Resources`` folders, searched in order: the checkout's, then the installed module's.
RESOURCE_DIRS = (_PACKAGE.parents[1] / "Resources", _PACKAGE.parent / "Resources")


def resource_path(*parts: str) -> Path:
    """The first existing ``Resources/<parts>``; the checkout's path (which may not exist) when none does."""
    for folder in RESOURCE_DIRS:
        candidate = folder.joinpath(*parts)
        if candidate.exists():
            return candidate
    return RESOURCE_DIRS[0].joinpath(*parts)
