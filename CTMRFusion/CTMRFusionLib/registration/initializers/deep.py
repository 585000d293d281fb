"""The ``deep`` initializer: the registration network corrects a start, then the search's local stages polish it.

The network (torch, imported only here and only when this strategy runs) reads the original intensities (it
does its own scaling) and answers from the start and, with ``deep_restart_angle_deg`` > 0, from the start
turned by ± that angle about each axis; :func:`~CTMRFusionLib.registration.orientation_search.polish_start`
then scores those answers by MI on the coarse search grid (``deep_polish``). The first half of the stage's
progress is the network's, the second the polish's.
"""

from __future__ import annotations

import time

import SimpleITK as sitk

from CTMRFusionLib.core.progress import ProgressEvent, report
from CTMRFusionLib.registration.initializers import closed_form
from CTMRFusionLib.registration.orientation_search import polish_start, tilt_rotations
from CTMRFusionLib.registration.stage import StageContext


def network_answers(pair, options, start: sitk.Transform, stage) -> list[sitk.Euler3DTransform]:
    """The network's corrections of ``start`` (and of its turned copies), about the CT body centroid."""
    from CTMRFusionLib.deep_registration.initializer import deep_initial_transforms  # noqa: PLC0415 — torch
    from CTMRFusionLib.deep_registration.model import load_registration_model  # noqa: PLC0415 — torch

    report(stage.progress, ProgressEvent("initialize", stage.at(0.05), "Deep initializer: loading the network"))
    model = load_registration_model(options.deep_model or None, options.deep_device)
    report(stage.progress, ProgressEvent("initialize", stage.at(0.15), f"Deep initializer on {model.device}"))
    # Without the polish nothing would choose among the answers: one start then.
    turns = tilt_rotations(options.deep_restart_angle_deg if options.deep_polish else 0.0)

    def on_answer(done: int, total: int) -> None:
        fraction = 0.15 + 0.35 * done / total
        message = f"Deep initializer: answer {done}/{total}"
        report(stage.progress, ProgressEvent("initialize", stage.at(fraction), message))
        if stage.cancel is not None:
            stage.cancel.raise_if_cancelled()

    corrected, timings = deep_initial_transforms(
        pair.fixed, pair.moving, start, pair.fixed_center, model, options.deep_passes, turns, on_answer
    )
    stage.timings["deep_network"] = timings["network"]
    stage.timings["deep_total"] = timings["total"]
    report(stage.progress, ProgressEvent("initialize", stage.at(0.5), "Deep initializer: network done"))
    return corrected


def initialize(pair, options, start=None, stage=None) -> sitk.Euler3DTransform:
    """``start`` (else the ``moments`` start) corrected by the network and, with ``deep_polish``, polished."""
    stage = stage or StageContext()
    start = start if start is not None else closed_form.moments(pair)
    answers = network_answers(pair, options, start, stage)
    if not options.deep_polish:
        return answers[0]
    tick = time.perf_counter()
    coarse_fixed, coarse_moving, coarse_mask = pair.search_grid(options.search_spacing_mm)
    polished = polish_start(
        coarse_fixed,
        coarse_moving,
        answers,
        options,
        coarse_mask,
        stage.progress,
        stage.cancel,
        base=stage.at(0.5),
        share=stage.share * 0.5,
    )
    stage.timings["deep_polish"] = time.perf_counter() - tick
    return polished
