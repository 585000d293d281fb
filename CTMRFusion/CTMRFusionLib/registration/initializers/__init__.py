"""Stage 2 of the registration: the start transform, one strategy per module, chosen by name.

Every strategy is ``initialize(pair, options, start, stage) -> Euler3DTransform`` (CT→MR, LPS, rotation about
the CT centroid): :mod:`.search` scores orientations (any flip), :mod:`.deep` lets the registration network
correct a start (torch, imported only when used), :mod:`.closed_form` holds the starts that need no search
(``moments``, ``geometry``, ``identity``). :func:`initial_transform` picks the strategy named by
``options.initializer``; :func:`proposed_starts` also returns the search's runners-up, for the registration to
choose among on finer grids.
"""

from __future__ import annotations

import SimpleITK as sitk

from CTMRFusionLib.core.frames import matrix_to_sitk_euler, sitk_transform_to_matrix
from CTMRFusionLib.registration.initializers import closed_form, deep, search
from CTMRFusionLib.registration.preparation import PreparedPair
from CTMRFusionLib.registration.stage import StageContext

#: Strategy name → its ``initialize`` function (the names are ``options.INITIALIZERS``).
STRATEGIES = {
    "search": search.initialize,
    "deep": deep.initialize,
    "moments": closed_form.moments,
    "geometry": closed_form.geometry,
    "identity": closed_form.identity,
}


def initial_transform(
    pair: PreparedPair, options, given: sitk.Transform | None, stage: StageContext
) -> tuple[sitk.Euler3DTransform, str]:
    """(start transform, the initializer's name for the report).

    ``given`` (a linear CT→MR LPS transform) replaces the strategy, except "deep", which then corrects it
    ("given+deep"); without one, "deep" corrects the "moments" start.
    """
    name = options.initializer
    if given is not None:
        start = matrix_to_sitk_euler(sitk_transform_to_matrix(given), pair.fixed_center)
        if name != "deep":
            return start, "given"
        return deep.initialize(pair, options, start, stage), "given+deep"
    return STRATEGIES[name](pair, options, None, stage), name


def proposed_starts(
    pair: PreparedPair, options, given: sitk.Transform | None, stage: StageContext
) -> tuple[list[sitk.Euler3DTransform], str]:
    """Like :func:`initial_transform`, but every start the strategy proposes, best first: the search's refined
    shortlist; one start for the other strategies."""
    if given is None and options.initializer == "search":
        return search.proposals(pair, options, None, stage), "search"
    start, name = initial_transform(pair, options, given, stage)
    return [start], name
