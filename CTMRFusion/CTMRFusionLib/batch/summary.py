"""The cohort summary: ``summary.csv`` and ``summary.json``, one row per case in manifest order."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from CTMRFusionLib.batch.case_runner import ROW_FIELDS
from CTMRFusionLib.io.atomic_files import write_text

STATUSES = ("ok", "review", "skipped", "failed")


def counts(rows: list[dict]) -> dict:
    """How many cases ended in each status."""
    return {status: sum(row["status"] == status for row in rows) for status in STATUSES}


def _plain(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_summary(rows: list[dict], out_dir, settings: dict) -> None:
    """Write ``summary.csv`` (columns :data:`ROW_FIELDS`) and ``summary.json`` (rows, counts, settings)."""
    out_dir = Path(out_dir)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else _plain(row[key]) for key in ROW_FIELDS})
    write_text(out_dir / "summary.csv", buffer.getvalue())
    document = {
        "counts": counts(rows),
        "settings": settings,
        "cases": [{key: _plain(row.get(key)) for key in ROW_FIELDS} for row in rows],
    }
    write_text(out_dir / "summary.json", json.dumps(document, indent=2))
