"""The files an image file consists of: a header and the data file(s) it names (MetaImage, NRRD, Analyze).

Used to protect inputs (no output may replace any file of an input) and to fingerprint inputs by content.
"""

from __future__ import annotations

from pathlib import Path

#: Header suffix → the data-file suffixes a writer of that format creates beside it (same stem).
WRITER_COMPANIONS = {
    ".hdr": (".img", ".img.gz"),
    ".img": (".hdr",),
    ".mhd": (".raw", ".zraw"),
    ".nhdr": (".raw", ".raw.gz"),
}


#: Every suffix above, longest first (so ``.img.gz`` is recognised before ``.gz``).
_SUFFIXES = sorted(set(WRITER_COMPANIONS) | {s for pair in WRITER_COMPANIONS.values() for s in pair}, key=len)[::-1]


def _split(name: str) -> tuple[str, str]:
    """(stem, suffix), a known two-part suffix kept whole (``.img.gz``); the suffix in lower case."""
    lower = name.lower()
    suffix = next((s for s in _SUFFIXES if lower.endswith(s)), Path(lower).suffix)
    return name[: len(name) - len(suffix)], suffix


def written_names(path) -> list[Path]:
    """Every file a writer creates for output ``path``: the file and its companions (same folder and stem)."""
    path = Path(path)
    stem, suffix = _split(path.name)
    return [path] + [path.with_name(stem + companion) for companion in WRITER_COMPANIONS.get(suffix, ())]


def companion_files(path) -> list[Path]:
    """Existing files that the image file ``path`` depends on besides itself: the data file a MetaImage or
    detached-NRRD header names, and the files of the same stem its format pairs with (Analyze .hdr/.img)."""
    path = Path(path)
    found: list[Path] = []
    lower = path.name.lower()
    if (lower.endswith(".mhd") or lower.endswith(".nhdr")) and path.is_file():
        key, separator = ("elementdatafile", "=") if lower.endswith(".mhd") else ("data file", ":")
        for line in path.read_text(errors="replace").splitlines()[:200]:
            name, _, value = line.partition(separator)
            if name.strip().lower() in (key, "datafile") and value.strip() and value.strip().upper() != "LOCAL":
                candidate = path.parent / value.strip()
                if candidate.is_file():
                    found.append(candidate)
    if path.parent.is_dir():
        wanted = {name.name.lower() for name in written_names(path)[1:]}
        found += [item for item in path.parent.iterdir() if item.name.lower() in wanted and item.is_file()]
    return sorted(set(found))
