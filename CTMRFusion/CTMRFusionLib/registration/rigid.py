"""Rigid CT–MR registration on SimpleITK images: Euler3D, Mattes MI, gradient descent, mm pyramid.

The registration is a pipeline of stages, each testable alone:

1. :func:`~CTMRFusionLib.registration.preparation.prepare_pair`: checks, masks, clipped intensities, centroids;
2. :func:`~CTMRFusionLib.registration.initializers.initial_transform`: the start, by the strategy named in the
   options (search, deep, moments, geometry, identity) or the given transform;
3. the overlap check: a start that leaves the CT body outside the MR is refused;
4. :func:`~CTMRFusionLib.registration.mi_refinement.refine`: Mattes MI, level by level; after the orientation
   search, :func:`~CTMRFusionLib.registration.start_selection.refine_best` refines the search's answer and the
   headers' own placement alike and keeps the lower MI, so a search fooled on its coarse grid cannot turn a
   well-placed pair over.

Works on images only (LPS); :mod:`CTMRFusionLib.mrml.logic` wraps it for MRML nodes and the command line
for files. The result maps fixed (CT) points to moving (MR) points.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from CTMRFusionLib.registration import initializers
from CTMRFusionLib.registration.confidence import Confidence, assess
from CTMRFusionLib.registration.initializers import closed_form
from CTMRFusionLib.registration.mi_refinement import LevelTrace
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.orientation_search import refine_on_grid
from CTMRFusionLib.registration.prefetch import start_prefetch
from CTMRFusionLib.registration.preparation import overlap_fraction, prepare_pair
from CTMRFusionLib.registration.stage import StageContext
from CTMRFusionLib.registration.start_selection import choose_and_refine

#: Share of the progress bar given to initialisation; the rest is split between pyramid levels.
INIT_SHARE = 0.3
#: Below this fraction of fixed-mask points landing inside the moving image, the images do not overlap.
MIN_OVERLAP = 0.10


@dataclass
class RigidRegistrationResult:
    """Outcome of :func:`register_rigid`.

    transform: Euler3D, fixed (CT) LPS points → moving (MR) LPS points, rotation about ``center``.
    metric: final Mattes MI at the finest level (negative; lower is better).
    start_candidates: the starts refined (the search's answer, the headers' placement), their MI by level and
    which was chosen.
    """

    transform: sitk.Euler3DTransform
    initial_transform: sitk.Euler3DTransform
    metric: float
    iterations: int
    levels: list[LevelTrace]
    initializer: str
    elapsed_seconds: float
    timings: dict[str, float]
    start_candidates: list[dict] = field(default_factory=list)
    confidence: Confidence | None = None

    def parameters(self) -> dict:
        """Angles (rad, about LPS x, y, z), translation (mm, LPS), centre (mm, LPS) and the 4x4 matrix."""
        values = self.transform.GetParameters()
        return {
            "angles_rad": list(values[:3]),
            "translation_mm": list(values[3:]),
            "center_mm": list(self.transform.GetCenter()),
            "matrix_lps": sitk_transform_to_matrix(self.transform).tolist(),
        }

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters(),
            "metric": self.metric,
            "iterations": self.iterations,
            "initializer": self.initializer,
            "initial_matrix_lps": sitk_transform_to_matrix(self.initial_transform).tolist(),
            "elapsed_seconds": self.elapsed_seconds,
            "timings_seconds": self.timings,
            "levels": [{k: v for k, v in vars(level).items() if k != "metric_values"} for level in self.levels],
            "start_candidates": self.start_candidates,
            **({"confidence": self.confidence.to_dict()} if self.confidence is not None else {}),
        }


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    options: RegistrationOptions | None = None,
    fixed_mask: sitk.Image | None = None,
    moving_mask: sitk.Image | None = None,
    initial_transform: sitk.Transform | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RigidRegistrationResult:
    """Register ``moving`` (MR) onto ``fixed`` (CT); both 3D scalar images in LPS, any intensity scale.

    ``fixed_mask``/``moving_mask``: optional binary masks (non-zero = use) in their image's space; they
    replace the automatic masks. ``initial_transform``: optional linear fixed→moving LPS transform; when
    given, it is the start and ``options.initializer`` is not used (except "deep", which corrects it).
    ``progress`` receives :class:`ProgressEvent` s; ``cancel`` stops the run with :class:`Cancelled`.
    Raises :class:`InvalidInputError` for unusable images or images that do not overlap from the start.
    """
    options = options or RegistrationOptions()
    started = time.perf_counter()
    pair = prepare_pair(fixed, moving, options, fixed_mask, moving_mask)
    timings: dict[str, float] = {"preprocess": time.perf_counter() - started}
    prefetch = start_prefetch(pair, options)  # the finest level's set-ups, on the second core during the search
    try:
        return _register_prepared(pair, moving, options, initial_transform, progress, cancel, started, timings)
    finally:  # done, failed, cancelled or terminated: the second thread makes nothing more
        prefetch.stop()


def _register_prepared(pair, moving, options, initial_transform, progress, cancel, started, timings):
    """:func:`register_rigid` after the preparation: initial starts, refinement, verdict."""
    tick = time.perf_counter()
    stage = StageContext(progress, cancel, 0.0, INIT_SHARE, timings)
    proposals, initializer = initializers.proposed_starts(pair, options, initial_transform, stage)
    start = proposals[0]
    overlap = overlap_fraction(pair.fixed_shape_mask, moving, start)
    if overlap < MIN_OVERLAP:
        raise InvalidInputError(
            f"CT and MR do not overlap from the initial alignment ({initializer}): only {overlap:.0%} of the CT "
            "body maps inside the MR field of view. Check that both images show the same subject, or use the "
            "'search' initializer."
        )
    starts = [(initializer, proposal) for proposal in proposals]
    if initializer == "search":  # the headers' own placement is always a candidate, refined like the others
        coarse_fixed, coarse_moving, coarse_mask = pair.search_grid(options.search_spacing_mm)
        headers, metric = refine_on_grid(
            coarse_fixed, coarse_moving, closed_form.identity(pair), options, coarse_mask, cancel
        )
        if math.isfinite(metric):
            starts.append(("headers", headers))
    timings["initialize"] = time.perf_counter() - tick

    chosen, outcomes = choose_and_refine(
        pair, starts, options, StageContext(progress, cancel, INIT_SHARE, 1 - INIT_SHARE, timings)
    )
    transform, levels, start, initializer = chosen.transform, chosen.traces, chosen.start, chosen.name
    if not math.isfinite(levels[-1].metric):
        raise InvalidInputError(
            f"The registration failed: its final Mattes MI is {levels[-1].metric} (too few CT samples overlap the MR "
            "at the end). Check the inputs, masks and options."
        )
    tick = time.perf_counter()
    confidence = assess(pair, chosen, outcomes, options)
    timings["confidence"] = time.perf_counter() - tick
    elapsed = time.perf_counter() - started
    report(progress, ProgressEvent("register", 1.0, f"Done in {elapsed:.1f} s", metric=levels[-1].metric))
    return RigidRegistrationResult(
        transform=transform,
        initial_transform=start,
        metric=levels[-1].metric,
        iterations=sum(level.iterations for level in levels),
        levels=levels,
        initializer=initializer,
        elapsed_seconds=elapsed,
        timings=timings,
        start_candidates=[outcome.to_dict(outcome is chosen) for outcome in outcomes] if len(outcomes) > 1 else [],
        confidence=confidence,
    )
