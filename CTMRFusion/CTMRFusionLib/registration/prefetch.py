"""Set-ups that depend on the prepared pair alone, made on a second thread while the first searches.

The finest level's grids, the scores that judge the starts, the finest level's
:class:`~CTMRFusionLib.registration.mattes_mi.MattesMutualInformation` (the MR smoothed and its gradient table)
and the confidence verdict's interior score do not depend on the start: they take about a third of a
registration on a thick-slice stack and were made in sequence after the orientation search, which runs mostly
on one core. Made on a second thread meanwhile, through
:meth:`~CTMRFusionLib.registration.preparation.PreparedPair.memo`, they are the same objects (same samples, same
seed), so the result is unchanged; where the main thread needs one first, it makes it itself or waits for it.
"""

from __future__ import annotations

import threading

from CTMRFusionLib.registration.confidence import interior_score
from CTMRFusionLib.registration.mi_refinement import (
    MOVING_SPACING_RATIO,
    level_score,
    numpy_level_metric,
    uses_numpy_metric,
)
from CTMRFusionLib.registration.preparation import PreparedPair


def start_prefetch(pair: PreparedPair, options) -> threading.Thread:
    """Start making the finest level's set-ups for ``pair`` and ``options`` on a daemon thread (returned)."""
    thread = threading.Thread(target=_make, args=(pair, options), name="ctmrfusion-prefetch", daemon=True)
    thread.start()
    return thread


def _make(pair: PreparedPair, options) -> None:
    """In the order the main thread needs them: the finest grid and the judging scores (start selection), the
    finest level's metric (its refinement), the interior score (the verdict)."""
    finest = len(options.level_spacings_mm) - 1
    try:
        pair.level_grid(options.level_spacings_mm[finest], options.smoothing_sigmas_mm[finest], MOVING_SPACING_RATIO)
        for level in range(1, finest + 1) if finest > 0 else range(1):  # the levels start selection judges on
            level_score(pair, level, options)
        if uses_numpy_metric(options, finest):
            numpy_level_metric(pair, finest, options)
        interior_score(pair, options)
    except Exception:  # kept in the memo: the main thread meets it where it needs the object
        return
