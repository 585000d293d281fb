"""The cohort manifest: a CSV file with one CT/MR pair per row, validated whole before any work starts.

Columns: ``id,ct,mr`` (required), ``ct_landmarks,mr_landmarks`` (optional, both or neither per row) and
``preset`` (a bundled preset or a JSON preset file), ``initializer`` (optional per-row overrides). Paths are
relative to the manifest's folder (absolute paths are kept). An image is a file, a DICOM series folder or a
DICOMweb series URL (``http(s)://…/studies/<UID>/series/<UID>``, retrieved when its case runs); landmarks are
.mrk.json, .fcsv or LPS .csv files.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.series_url import is_url, parse_series_url
from CTMRFusionLib.registration.options import INITIALIZERS, resolve_preset

REQUIRED_COLUMNS = ("id", "ct", "mr")
OPTIONAL_COLUMNS = ("ct_landmarks", "mr_landmarks", "preset", "initializer")
PATH_COLUMNS = ("ct", "mr", "ct_landmarks", "mr_landmarks")
#: A case id names its output folder DIR/<id>/: letters, digits, dot, dash and underscore, not starting with a dot.
CASE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
#: Names the batch itself writes in DIR/: no case folder may take them (any letter case).
RESERVED_IDS = ("summary.csv", "summary.json", "index.html")


class ManifestError(InvalidInputError):
    """The manifest cannot be run as it is; the message names the file, the row and the problem."""


@dataclass(frozen=True)
class CaseSpec:
    """One row of the manifest, with absolute paths. ``preset``/``initializer`` None: the batch's default."""

    id: str
    ct: str
    mr: str
    ct_landmarks: str | None = None
    mr_landmarks: str | None = None
    preset: str | None = None
    initializer: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def read_manifest(path) -> list[CaseSpec]:
    """Every case of the manifest at ``path``, or :class:`ManifestError` naming the first problem found.

    Checked here, before any work: the header (required columns present, no unknown or repeated column), each
    row's id (non-empty, unique, usable as a folder name), that every named file or folder exists, that
    landmarks come in pairs, and that presets and initializers are known.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"manifest {path}: cannot read it as UTF-8 text ({error})") from None
    try:  # CSV records, not lines: a quoted field may hold a newline; each record keeps the line it starts on
        reader = csv.reader(io.StringIO(text, newline=""))
        rows, lines, start = [], [], 1
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as error:
        raise ManifestError(f"manifest {path}: not CSV ({error})") from None
    if not rows:
        raise ManifestError(f"manifest {path} is empty; it needs a header row with the columns id,ct,mr")
    header = [cell.strip() for cell in rows[0]]
    _check_header(path, header)
    if len(rows) == 1:
        raise ManifestError(f"manifest {path} has a header but no case")
    cases, seen = [], {}
    for line, row in zip(lines[1:], rows[1:]):
        if len(row) != len(header):
            raise ManifestError(f"manifest {path}, row {line}: {len(row)} fields where the header has {len(header)}")
        values = {name: cell.strip() or None for name, cell in zip(header, row)}
        case = _case(path, line, values)
        key = case.id.lower()  # DIR/<id>/ folders must differ on case-insensitive file systems too
        if key in seen:
            raise ManifestError(f"manifest {path}, row {line}: id {case.id!r} repeats row {seen[key]}")
        seen[key] = line
        cases.append(case)
    return cases


def _check_header(path: Path, header: list[str]) -> None:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    unknown = [name for name in header if name not in known]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ManifestError(f"manifest {path}: unknown column(s) {names}; known: {', '.join(known)}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ManifestError(f"manifest {path}: column(s) {', '.join(repeated)} appear more than once")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ManifestError(f"manifest {path}: missing column(s) {', '.join(missing)} (needs id,ct,mr)")


def _case(path: Path, line: int, values: dict) -> CaseSpec:
    where = f"manifest {path}, row {line}"
    case_id = values.get("id")
    if not case_id:
        raise ManifestError(f"{where}: empty id")
    if not CASE_ID.fullmatch(case_id):
        raise ManifestError(
            f"{where}: id {case_id!r} cannot name a folder (use letters, digits, '.', '-', '_'; no leading dot)"
        )
    if case_id.lower() in RESERVED_IDS:
        raise ManifestError(f"{where}: id {case_id!r} is the name of a file the batch writes; choose another id")
    for name in ("ct", "mr"):
        if not values.get(name):
            raise ManifestError(f"{where}: empty {name} path")
    if bool(values.get("ct_landmarks")) != bool(values.get("mr_landmarks")):
        raise ManifestError(f"{where}: give both ct_landmarks and mr_landmarks, or neither")
    resolved = {}
    for name in PATH_COLUMNS:
        if name in ("ct", "mr") and is_url(values[name]):
            try:
                parse_series_url(values[name], name)
            except InvalidInputError as error:
                raise ManifestError(f"{where}: {error}") from None
            resolved[name] = values[name].strip()
        elif values.get(name):
            target = Path(values[name]).expanduser()
            target = target if target.is_absolute() else path.parent / target
            if not target.exists():
                raise ManifestError(f"{where}: {name} {values[name]!r} not found (looked for {target})")
            if not (target.is_file() or target.is_dir()):  # a device or a FIFO would never end reading
                raise ManifestError(f"{where}: {name} {values[name]!r} is not a regular file or a folder")
            resolved[name] = str(target.resolve())
    preset, initializer = values.get("preset"), values.get("initializer")
    if preset:
        try:
            preset = resolve_preset(preset, path.parent)
        except ValueError as error:
            raise ManifestError(f"{where}: {error}") from None
    if initializer and initializer not in INITIALIZERS:
        raise ManifestError(f"{where}: unknown initializer {initializer!r}; known: {', '.join(INITIALIZERS)}")
    return CaseSpec(id=case_id, preset=preset, initializer=initializer, **resolved)
