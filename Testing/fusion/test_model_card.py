"""The fusion model card's k-fold section: what it computes from a record's per-fold means."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="torch is not installed (pip install -c constraints.txt -e '.[dev]')")

from CTMRFusionLib.fusion.metrics import METRIC_NAMES
from CTMRFusionLib.fusion.model_card import cross_validation_lines


def _means(value: float, **changes) -> dict:
    return {name: changes.get(name, value) for name in METRIC_NAMES}


def test_the_k_fold_section_gives_fold_rows_mean_and_sd_wins_and_the_reference():
    """Two folds: the model's EN is 2 then 4 (mean 3, sample SD √2 = 1.4142); it beats the average rule on every
    metric (1.0 on both folds), the max rule only on EN (max has 2.5 elsewhere), so above every rule on EN alone;
    the reference has 3.0 everywhere, so the model's other metrics are −50 % of it, and EN is ±0."""
    model = [_means(1.5, EN=2.0), _means(1.5, EN=4.0)]
    record = {
        "cross_validation": {
            "script": "Testing/benchmarks/benchmark_fusion_folds.py",
            "folds": [["33", "37"], ["2", "20"], ["28", "32"], ["34"]],
            "measured_folds": [1, 3],
            "model": model,
            "rules": {"average": [_means(1.0)] * 2, "max": [_means(2.5, EN=2.9)] * 2},
            "reference": {"name": "teacher", "description": "the teacher", "values": [_means(3.0)] * 2},
        }
    }
    text = "\n".join(cross_validation_lines(record))
    assert "## k-fold validation by case" in text
    assert "2 of 4 folds (fold 1: 33, 37; fold 3: 28, 32)" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["1"].split("|")[2].strip() == "2.0000" and rows["3"].split("|")[2].strip() == "4.0000"
    assert rows["mean ± SD"].split("|")[2].strip() == "3.0000 ± 1.4142"
    assert rows["max (mean)"].split("|")[2].strip() == "2.9000"
    assert rows["vs teacher"].split("|")[2].strip() == "+0.00 %"
    assert rows["vs teacher"].split("|")[3].strip() == "-50.00 %"
    assert "above every classic rule on 1 of 8 metrics (EN)" in text
    assert "against each rule alone on 8 (average), 1 (max)" in text


def test_a_record_without_folds_has_no_k_fold_section():
    assert cross_validation_lines({}) == []
