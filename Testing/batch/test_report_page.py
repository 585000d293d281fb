"""The cohort page's HTML: failures first, every text escaped, thumbnails only where they exist."""

from __future__ import annotations

from CTMRFusionLib.batch.case_runner import ROW_FIELDS
from CTMRFusionLib.batch.report_page import write_report_page


def _row(**values):
    row = dict.fromkeys(ROW_FIELDS)
    row.update(values)
    return row


def test_failures_come_first_and_text_is_escaped(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "blend.png").write_bytes(b"")
    rows = [
        _row(id="a", status="ok", metric=-0.81, seconds=3.2, tre_after_mm=1.234),
        _row(id="b", status="failed", error='<script>alert("x")</script> & more'),
        _row(id="c", status="skipped", metric=float("nan")),
    ]
    page = write_report_page(rows, tmp_path).read_text()
    assert page.index('data-id="b"') < page.index('data-id="a"') < page.index('data-id="c"')
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    assert page.count('src="a/blend.png"') == 1 and "c/blend.png" not in page
    assert ">1.23</td>" in page and 'data-value="nan"' not in page
    assert "ok: 1" in page and "failed: 1" in page and "skipped: 1" in page
