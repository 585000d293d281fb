"""Landmark (fiducial) point sets and their files: Slicer ``.mrk.json`` and ``.fcsv``, and CSV.

Points are held in **LPS mm** (the frame of the registration transforms); files that declare RAS are
converted on reading. Pairing and target registration error live in :mod:`CTMRFusionLib.registration.tre`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CTMRFusionLib.core import frames


class LandmarkError(ValueError):
    """Landmark files or pairs that cannot be used; the message says why."""


@dataclass
class LandmarkSet:
    """Named points in LPS mm."""

    labels: list[str]
    points_lps: np.ndarray  # (N, 3)

    def __post_init__(self) -> None:
        self.points_lps = np.asarray(self.points_lps, dtype=float).reshape(-1, 3)
        if len(self.labels) != len(self.points_lps):
            raise LandmarkError("Each landmark needs exactly one label.")
        if not np.all(np.isfinite(self.points_lps)):
            raise LandmarkError("Landmark coordinates contain NaN or infinite values.")

    def __len__(self) -> int:
        return len(self.labels)


def _coordinate_flip(system: str) -> bool:
    """True if points in ``system`` must be flipped to reach LPS."""
    system = str(system).strip().upper()
    if system in ("LPS", "1"):
        return False
    if system in ("RAS", "0"):
        return True
    raise LandmarkError(f"Unknown coordinate system '{system}' (expected LPS or RAS).")


def _read_markups_json(path: Path) -> LandmarkSet:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise LandmarkError(f"{path.name}: a Slicer markups file is a JSON object, not a {type(document).__name__}.")
    markups = document.get("markups") or []
    if not isinstance(markups, list) or not markups or not isinstance(markups[0], dict):
        raise LandmarkError(f"{path.name}: no markups list in the file.")
    markup = markups[0]
    flip = _coordinate_flip(markup.get("coordinateSystem", "LPS"))
    control_points = markup.get("controlPoints")
    if not isinstance(control_points, list):
        raise LandmarkError(f"{path.name}: 'controlPoints' is not a list of points.")
    labels, points = [], []
    for number, point in enumerate(control_points, start=1):
        position = point.get("position") if isinstance(point, dict) else None
        if not isinstance(position, list) or len(position) != 3:
            raise LandmarkError(f"{path.name}: control point {number} has no 3-number 'position'.")
        labels.append(str(point.get("label") or number))
        points.append(position)
    points = np.array(points, dtype=float).reshape(-1, 3)
    return LandmarkSet(labels, frames.ras_to_lps_points(points) if flip else points)


def _read_fcsv(path: Path) -> LandmarkSet:
    flip = True  # Slicer's legacy default is RAS
    labels, points = [], []
    with path.open() as handle:
        for line in handle:
            if line.startswith("#"):
                if "CoordinateSystem" in line:
                    flip = _coordinate_flip(line.split("=", 1)[1])
                continue
            if not line.strip():
                continue
            fields = next(csv.reader([line]))
            if len(fields) < 4:
                raise LandmarkError(f"{path.name}: row {fields[0]!r} has {len(fields)} fields; id,x,y,z are needed.")
            points.append([float(v) for v in fields[1:4]])
            labels.append(fields[11] if len(fields) > 11 and fields[11] else fields[0])
    points = np.array(points, dtype=float).reshape(-1, 3)
    return LandmarkSet(labels, frames.ras_to_lps_points(points) if flip else points)


def _read_csv(path: Path, coordinate_system: str) -> LandmarkSet:
    flip = _coordinate_flip(coordinate_system)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise LandmarkError(f"{path.name}: no rows.")
    keys = {key.strip().lower(): key for key in rows[0]}
    missing = [axis for axis in ("x", "y", "z") if axis not in keys]
    if missing:
        raise LandmarkError(f"{path.name}: needs columns x, y, z (missing {', '.join(missing)}).")
    short = [n for n, row in enumerate(rows, start=2) if any(row[keys[a]] in (None, "") for a in ("x", "y", "z"))]
    if short:
        raise LandmarkError(f"{path.name}: row {short[0]} lacks a coordinate (x, y and z are needed).")
    label_key = keys.get("label") or keys.get("id") or keys.get("name")
    labels = [row[label_key] if label_key else str(n) for n, row in enumerate(rows, start=1)]
    try:
        points = np.array([[float(row[keys[a]]) for a in ("x", "y", "z")] for row in rows])
    except ValueError as error:
        raise LandmarkError(f"{path.name}: non-numeric coordinate ({error}).") from error
    return LandmarkSet(labels, frames.ras_to_lps_points(points) if flip else points)


def read_landmarks(path, csv_coordinate_system: str = "LPS") -> LandmarkSet:
    """Read a landmark file: Slicer ``.mrk.json``, Slicer ``.fcsv`` or CSV (``label|id,x,y,z``).

    JSON and FCSV files declare their coordinate system; plain CSV is taken as ``csv_coordinate_system``.
    The result is in LPS mm.
    """
    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"Landmark file not found: {path}")
    name = path.name.lower()
    readers = {".json": _read_markups_json, ".fcsv": _read_fcsv}
    reader = next((r for suffix, r in readers.items() if name.endswith(suffix)), None)
    if reader is None and (name.endswith(".csv") or name.endswith(".txt")):
        reader = lambda p: _read_csv(p, csv_coordinate_system)  # noqa: E731
    if reader is None:
        raise LandmarkError(f"{path.name}: unknown landmark format (use .mrk.json, .fcsv or .csv).")
    try:
        landmarks = reader(path)
    except LandmarkError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OSError, UnicodeDecodeError) as error:
        raise LandmarkError(f"{path.name}: unreadable landmark file ({type(error).__name__}: {error}).") from None
    if len(landmarks) == 0:
        raise LandmarkError(f"{path.name}: the file holds no landmark.")
    return landmarks
