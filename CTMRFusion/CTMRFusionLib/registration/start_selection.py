"""Stage 4 when the start is in doubt: every proposed start judged on the pyramid's finer grids, then refined.

The orientation search scores candidates on a coarse 6 mm grid, where a flipped head can score best (measured:
Harvard stack 34 moved by 30°, whose flipped pose has the lower MI on the 6 mm grids and the higher one on the
3 and 1.5 mm grids; and a correctly aligned stack turned upside down, 107 mm off). So the search's whole
refined shortlist and the placement the headers give are judged by Mattes MI on the grid and samples of every
pyramid level but the coarsest. If one start is best on all of them it alone is refined; if the levels
disagree, each level's best is refined through the whole pyramid and the lower MI at the finest level wins.
Starts within :data:`SAME_POSE_MM` of a better one are the same start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.imaging.body_mask import mask_points_lps
from CTMRFusionLib.registration.mi_refinement import LevelTrace, level_score, refine
from CTMRFusionLib.registration.preparation import PreparedPair
from CTMRFusionLib.registration.stage import StageContext

#: Two starts closer than this (mean distance over CT body points, mm) are one start.
SAME_POSE_MM = 5.0


@dataclass
class StartOutcome:
    """One start and what became of it: name, the start and its refined transform (CT→MR, LPS), its MI on each
    judging level's grid before refinement (``scores``) and at the end of each level refined (``metrics``),
    by level index (lower is better)."""

    name: str
    start: sitk.Euler3DTransform
    transform: sitk.Euler3DTransform
    scores: dict[int, float] = field(default_factory=dict)
    metrics: dict[int, float] = field(default_factory=dict)
    traces: list[LevelTrace] = field(default_factory=list)

    def run(self, pair, options, stage: StageContext) -> None:
        """Refine through every level of the pyramid."""
        self.traces = refine(pair, self.transform, options, stage)
        self.metrics = {trace.level: trace.metric for trace in self.traces}

    def to_dict(self, chosen: bool) -> dict:
        """For the JSON report: level index (str) → value; a start without overlap scores null, not Infinity."""

        def finite(values: dict[int, float]) -> dict[str, float | None]:
            return {str(k): v if np.isfinite(v) else None for k, v in values.items()}

        return {
            "name": self.name,
            "chosen": chosen,
            "score_by_level": finite(self.scores),
            "metric_by_level": finite(self.metrics),
        }


def pose_distance_mm(a: sitk.Transform, b: sitk.Transform, points_lps: np.ndarray) -> float:
    """Mean distance (mm) between where ``a`` and ``b`` send ``points_lps``."""
    homogeneous = np.c_[points_lps, np.ones(len(points_lps))]
    difference = homogeneous @ (sitk_transform_to_matrix(a) - sitk_transform_to_matrix(b)).T
    return float(np.linalg.norm(difference[:, :3], axis=1).mean())


def choose_and_refine(
    pair: PreparedPair, starts: list[tuple[str, sitk.Euler3DTransform]], options, stage: StageContext
) -> tuple[StartOutcome, list[StartOutcome]]:
    """(the chosen outcome, every distinct start's outcome): ``starts`` (name, CT→MR LPS transform, best guess
    first) judged and refined as the module says."""
    points = mask_points_lps(pair.fixed_shape_mask, 2000)
    outcomes: list[StartOutcome] = []
    for name, start in starts:
        if all(pose_distance_mm(start, kept.start, points) > SAME_POSE_MM for kept in outcomes):
            outcomes.append(StartOutcome(name, start, sitk.Euler3DTransform(start)))
    contenders = outcomes
    tick = time.perf_counter()
    if len(outcomes) > 1:
        count = len(options.level_spacings_mm)
        for level in range(1, count) if count > 1 else range(count):
            score = level_score(pair, level, options)
            for outcome in outcomes:
                if stage.cancel is not None:
                    stage.cancel.raise_if_cancelled()
                outcome.scores[level] = score(outcome.start)
        contenders = []
        for level in sorted(outcomes[0].scores, reverse=True):  # finest level first
            best = min(outcomes, key=lambda outcome: outcome.scores[level])
            if best not in contenders and np.isfinite(best.scores[level]):
                contenders.append(best)
        contenders = contenders or outcomes[:1]
    stage.timings["select_start"] = time.perf_counter() - tick
    share = stage.share / len(contenders)
    for number, outcome in enumerate(contenders):
        outcome.run(
            pair,
            options,
            StageContext(stage.progress, stage.cancel, stage.at(0) + number * share, share, stage.timings),
        )
    finest = len(options.level_spacings_mm) - 1
    return min(contenders, key=lambda outcome: outcome.metrics.get(finest, np.inf)), outcomes
