"""``index.html``: the static cohort report a user opens first.

One table row per case, failures first, with the case's blend thumbnail, status, error, landmark TRE before and
after (mm), final Mattes MI, seconds, peak memory (MB) and worker. Clicking a column header sorts by it (again:
reverse); ``index.html#sort=COLUMN`` (or ``#sort=-COLUMN``, descending) opens the page sorted. No network access,
no external script: the page works from a copied folder.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from CTMRFusionLib.batch.case_runner import REPORT, THUMBNAIL
from CTMRFusionLib.batch.summary import counts
from CTMRFusionLib.io.atomic_files import write_text

#: (row key, header, number format or None for text)
COLUMNS = (
    ("id", "Case", None),
    ("status", "Status", None),
    ("tre_before_mm", "TRE before (mm)", "{:.2f}"),
    ("tre_after_mm", "TRE after (mm)", "{:.2f}"),
    ("metric", "Mattes MI", "{:.4f}"),
    ("seconds", "Time (s)", "{:.1f}"),
    ("peak_memory_mb", "Peak memory (MB)", "{:.0f}"),
    ("worker", "Worker", None),
    ("error", "Error", None),
    ("review_reasons", "Why review", None),
)
_ORDER = {"failed": 0, "review": 1, "ok": 2, "skipped": 3}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fde8e8; }
tr.review td { background: #fff4d6; }
td[data-key="error"], td[data-key="review_reasons"] { min-width: 16em; max-width: 28em; }
img.thumbnail { height: 96px; display: block; background: #000; }
.counts span { margin-right: 1.5em; }
"""

_SCRIPT = """
function sortBy(key, descending) {
  const body = document.querySelector("#cases tbody");
  const rows = Array.from(body.rows);
  const value = (row) => {
    const cell = row.querySelector('[data-key="' + key + '"]');
    const raw = cell ? cell.dataset.value : "";
    const number = parseFloat(raw);
    return raw !== "" && !isNaN(number) ? number : raw;
  };
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === "" && y !== "") return 1;
    if (y === "" && x !== "") return -1;
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  rows.forEach((row) => body.appendChild(row));
  document.querySelector("#cases").dataset.sortedBy = (descending ? "-" : "") + key;
}
document.querySelectorAll("#cases th[data-key]").forEach((th) => {
  th.addEventListener("click", () => {
    const table = document.querySelector("#cases");
    sortBy(th.dataset.key, table.dataset.sortedBy === th.dataset.key);
  });
});
const match = /sort=(-?)([a-z_]+)/.exec(window.location.hash);
if (match) sortBy(match[2], match[1] === "-");
"""


def _cell(row: dict, key: str, number_format: str | None) -> str:
    value = row.get(key)
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    shown = "" if value is None else (number_format.format(value) if number_format else str(value))
    css = ' class="number"' if number_format else ""
    data = "" if value is None else html.escape(str(value), quote=True)
    return f'<td data-key="{key}" data-value="{data}"{css}>{html.escape(shown)}</td>'


def _thumbnail(row: dict, out_dir: Path) -> str:
    case = html.escape(row["id"], quote=True)
    if row["status"] == "failed" or not (out_dir / row["id"] / THUMBNAIL).is_file():
        return "<td></td>"
    return (
        f'<td><a href="{case}/{REPORT}"><img class="thumbnail" src="{case}/{THUMBNAIL}" '
        f'alt="{case}: MR (green) over CT (purple)"></a></td>'
    )


def write_report_page(rows: list[dict], out_dir, title: str = "CTMRFusion cohort") -> Path:
    """Write ``out_dir/index.html`` for ``rows`` (summary rows); return its path."""
    out_dir = Path(out_dir)
    ordered = sorted(rows, key=lambda row: _ORDER.get(row["status"], 3))
    header = "<th>Blend</th>" + "".join(f'<th data-key="{key}">{html.escape(name)}</th>' for key, name, _ in COLUMNS)
    body = "\n".join(
        f'<tr class="{html.escape(row["status"])}" data-id="{html.escape(row["id"], quote=True)}">'
        + _thumbnail(row, out_dir)
        + "".join(_cell(row, key, number_format) for key, _, number_format in COLUMNS)
        + "</tr>"
        for row in ordered
    )
    tally = "".join(f"<span>{status}: {n}</span>" for status, n in counts(rows).items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="counts">{tally}<span>cases: {len(rows)}</span></p>
<p>Blend: registered MR (green) over CT (purple); axial, coronal, sagittal through the CT's centre. Click a
thumbnail for the case's report, a column header to sort.</p>
<table id="cases"><thead><tr>{header}</tr></thead>
<tbody>
{body}
</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""
    path = out_dir / "index.html"
    write_text(path, page)
    return path
