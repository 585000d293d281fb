"""Whether to trust a registration, from measures that need no ground truth (elastix, ANTs and BRAINSFit say
nothing when they fail).

Measured at the end of :func:`~CTMRFusionLib.registration.rigid.register_rigid`:

* ``normalized_mi``: MI at the result over the inside of the CT body (its mask eroded by :data:`INTERIOR_MM`, on the
  finest level's grid), divided by the smaller of the CT's and the MR's sample entropies there. Inside the body
  the outline cannot count, only tissue explaining tissue: measured at the default result, the seven shared
  Harvard stacks and the MRI-DIR pair give 0.11–0.16; the same brain CT with the porcine phantom's MR (another
  organ) 0.054, with another patient's MR 0.061, with an MR of noise 0.015. Over the whole metric mask the
  wrong organ scored 0.185, within the good pairs' 0.21–0.29;
* ``ct_in_mr`` / ``mr_in_ct``: the share of the CT body that lands inside the MR image under the result, and of
  the MR body inside the CT image under its inverse; a result that keeps only part of either body inside the
  other image is a pose that MI over a part can prefer (a thin slab turned on its side). The larger of the two is
  judged, so an MR smaller than the CT (or the reverse) is not held against the result;
* ``alternative_gap``: how much worse (relative MI at the finest level) the best refined start that ended more
  than :data:`DISTINCT_MM` away scored; a small gap means two distinct poses explain the images about equally.

Each measure below its threshold adds a reason and makes the level "low". The thresholds are set on the sweep
benchmark (``Testing/benchmarks/benchmark_sweep.py``, docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.imaging.body_mask import mask_points_lps
from CTMRFusionLib.registration.mi_refinement import MOVING_SPACING_RATIO
from CTMRFusionLib.registration.mi_score import MutualInformationScore
from CTMRFusionLib.registration.preparation import on_grid, share_inside
from CTMRFusionLib.registration.start_selection import pose_distance_mm

#: Below this normalised MI inside the CT body the images do not explain each other.
MIN_NORMALIZED_MI = 0.08
#: How far inside the CT body's outline the normalised MI is measured (mm).
INTERIOR_MM = 5.0
#: CT samples drawn inside the body for it.
INTERIOR_SAMPLES = 20_000
#: Below this share of one body inside the other image (the larger of the two shares), the pose is in doubt.
MIN_BODY_INSIDE = 0.75
#: A distinct refined start whose finest MI is within this relative gap of the result's makes it ambiguous.
MIN_ALTERNATIVE_GAP = 0.02
#: Two results further apart than this (mean over CT body points, mm) are distinct poses.
DISTINCT_MM = 10.0
#: Body points drawn to measure the shares.
BODY_POINTS = 3000


@dataclass(frozen=True)
class Confidence:
    """``level``: "high" or "low"; ``reasons``: one sentence per measure that failed; ``measures``: every value."""

    level: str
    reasons: tuple[str, ...] = ()
    measures: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"level": self.level, "reasons": list(self.reasons), **self.measures}


def judge(measures: dict) -> Confidence:
    """The verdict on the measures (see the module docstring)."""
    reasons = []
    normalized_mi = measures.get("normalized_mi")
    if normalized_mi is None or normalized_mi < MIN_NORMALIZED_MI:
        shown = "none" if normalized_mi is None else f"{normalized_mi:.3f}"
        reasons.append(
            f"the images explain each other too little at the result (normalised MI {shown} < {MIN_NORMALIZED_MI}):"
            " is the MR of the same subject and region as the CT?"
        )
    inside = max(measures["ct_in_mr"], measures["mr_in_ct"])
    if inside < MIN_BODY_INSIDE:
        reasons.append(
            f"only {inside:.0%} of the body lands inside the other image at the result (< {MIN_BODY_INSIDE:.0%}):"
            " a wrong orientation can keep part of a body aligned"
        )
    gap = measures.get("alternative_gap")
    if gap is not None and gap < MIN_ALTERNATIVE_GAP:
        reasons.append(
            f"a distinct pose {measures['alternative_distance_mm']:.0f} mm away explains the images almost as well "
            f"(MI within {gap:.1%})"
        )
    return Confidence("low" if reasons else "high", tuple(reasons), measures)


def interior_score(pair, options) -> MutualInformationScore:
    """MI on the finest level's grid, sampled inside the CT body eroded by :data:`INTERIOR_MM` (set up once per
    pair and options)."""
    finest = len(options.level_spacings_mm) - 1
    spacing, sigma = options.level_spacings_mm[finest], options.smoothing_sigmas_mm[finest]
    bins, seed = options.histogram_bins, options.random_seed

    def compute():
        fixed, moving, _, moving_mask = pair.level_grid(spacing, sigma, MOVING_SPACING_RATIO)
        body = on_grid(pair.fixed_shape_mask, fixed)
        radius = [int(round(INTERIOR_MM / voxel)) for voxel in fixed.GetSpacing()]
        interior = sitk.BinaryErode(body, radius)
        if not sitk.GetArrayViewFromImage(interior).any():  # a body thinner than twice the margin
            interior = body
        return MutualInformationScore(fixed, moving, interior, bins, INTERIOR_SAMPLES, seed, moving_mask)

    return pair.memo(("interior score", spacing, sigma, bins, seed), compute)


def assess(pair, chosen, outcomes, options) -> Confidence:
    """Confidence in ``chosen`` (a start outcome, refined), beside the other refined ``outcomes``."""
    transform = chosen.transform
    matrix = sitk_transform_to_matrix(transform)
    statistics = interior_score(pair, options).statistics(transform)
    normalized_mi = None
    if statistics is not None:
        normalized_mi = statistics["mi"] / max(min(statistics["ct_entropy"], statistics["mr_entropy"]), 1e-12)
    ct_points = mask_points_lps(pair.fixed_shape_mask, BODY_POINTS)
    mr_points = mask_points_lps(pair.moving_shape_mask, BODY_POINTS)
    measures = {
        "normalized_mi": normalized_mi,
        "ct_in_mr": share_inside(ct_points, matrix, pair.moving),
        "mr_in_ct": share_inside(mr_points, np.linalg.inv(matrix), pair.fixed),
        "alternative_gap": None,
        "alternative_distance_mm": None,
    }
    finest = len(options.level_spacings_mm) - 1
    chosen_metric = chosen.metrics.get(finest)
    for outcome in outcomes:
        metric = outcome.metrics.get(finest)
        if outcome is chosen or metric is None or not np.isfinite(metric) or not np.isfinite(chosen_metric):
            continue
        distance = pose_distance_mm(outcome.transform, transform, ct_points)
        if distance > DISTINCT_MM:
            gap = (metric - chosen_metric) / max(abs(chosen_metric), 1e-12)
            if measures["alternative_gap"] is None or gap < measures["alternative_gap"]:
                measures["alternative_gap"], measures["alternative_distance_mm"] = gap, distance
    return judge(measures)
