"""Comparing fusion methods on slice pairs with the eight metrics (benchmark, tests, model card)."""

from __future__ import annotations

import numpy as np

from CTMRFusionLib.fusion import rules as fusion_rules
from CTMRFusionLib.fusion.metrics import METRIC_NAMES, all_metrics
from CTMRFusionLib.fusion.pipeline import fuse_stacks


def method_means(ct: np.ndarray, mr: np.ndarray, methods, model=None) -> dict[str, dict[str, float]]:
    """{method: {metric: mean over slices}} for (n, H, W) 8-bit-scale stacks; outputs rounded to 8 bits."""
    means = {}
    for method in methods:
        fused = np.clip(np.rint(fuse_stacks(ct, mr, method, model)), 0, 255)
        rows = [all_metrics(a, b, f) for a, b, f in zip(ct, mr, fused)]
        means[method] = {name: float(np.mean([r[name] for r in rows])) for name in METRIC_NAMES}
    return means


def leads_over_best(
    means: dict, candidate: str = "unet", rivals=tuple(fusion_rules.RULES)
) -> dict[str, tuple[float, str]]:
    """{metric: (candidate's mean − the best rival's mean, that rival)}; a lead > 0 means every rival is beaten."""
    leads = {}
    for name in METRIC_NAMES:
        best = max(rivals, key=lambda rival: means[rival][name])
        leads[name] = (means[candidate][name] - means[best][name], best)
    return leads


def metrics_won(means: dict, candidate: str = "unet", rivals=tuple(fusion_rules.RULES)) -> list[str]:
    """Metrics on which ``candidate``'s mean is higher than every rival's mean."""
    return [name for name, (lead, _) in leads_over_best(means, candidate, rivals).items() if lead > 0]


def fold_summary(fold_means: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """{method: {metric: (mean over folds, sample SD over folds)}} from one ``method_means`` result per fold
    (each fold weighs the same, whatever its number of slices); only the methods every fold has are listed."""
    methods = [m for m in fold_means[0] if all(m in fold for fold in fold_means)]
    summary = {}
    for method in methods:
        summary[method] = {}
        for name in METRIC_NAMES:
            values = np.array([fold[method][name] for fold in fold_means])
            spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            summary[method][name] = (float(values.mean()), spread)
    return summary


def percent_differences(means: dict, reference: dict) -> dict[str, str]:
    """{metric: "+0.12 %"}: ``means`` in % of ``reference`` (same metric keys), "—" where the reference is 0."""
    return {k: f"{100 * (means[k] / reference[k] - 1):+.2f} %" if reference[k] else "—" for k in reference}


def fold_averages(summary: dict) -> dict[str, dict[str, float]]:
    """{method: {metric: mean over folds}}: the means of a :func:`fold_summary`, without the spread."""
    return {method: {name: value[0] for name, value in metrics.items()} for method, metrics in summary.items()}


def metrics_beaten_by_rule(
    means: dict, candidate: str = "unet", rivals=tuple(fusion_rules.RULES)
) -> dict[str, list[str]]:
    """{rival: the metrics on which ``candidate``'s mean is higher than that rival's} (the held-out check asks
    for at least 5 of 8 against each rule)."""
    return {rival: [n for n in METRIC_NAMES if means[candidate][n] > means[rival][n]] for rival in rivals}
