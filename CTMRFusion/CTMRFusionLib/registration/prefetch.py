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


class Prefetch:
    """The second thread's work for one registration. :meth:`stop` ends it after the set-up it is making, so that a
    registration that fails, is cancelled or terminated does not wait for the rest. Not a daemon thread: a process
    that ends while it works waits for that one set-up instead of killing the thread inside ITK, which aborts the
    process ("exception not rethrown")."""

    def __init__(self, pair: PreparedPair, options) -> None:
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._make, args=(pair, options), name="ctmrfusion-prefetch")
        self.thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _make(self, pair: PreparedPair, options) -> None:
        """In the order the main thread needs them: the finest grid and the judging scores (start selection), the
        finest level's metric (its refinement), the interior score (the verdict)."""
        finest = len(options.level_spacings_mm) - 1
        spacing, sigma = options.level_spacings_mm[finest], options.smoothing_sigmas_mm[finest]
        steps = [lambda: pair.level_grid(spacing, sigma, MOVING_SPACING_RATIO)]
        steps += [lambda level=level: level_score(pair, level, options) for level in range(1, finest + 1)]
        if uses_numpy_metric(options, finest):
            steps.append(lambda: numpy_level_metric(pair, finest, options))
        steps.append(lambda: interior_score(pair, options))
        for step in steps:
            if self._stopped.is_set():
                return
            try:
                step()
            except Exception:  # kept in the memo: the main thread meets it where it needs the object
                return


def start_prefetch(pair: PreparedPair, options) -> Prefetch:
    """Start making the finest level's set-ups for ``pair`` and ``options`` on a second thread."""
    return Prefetch(pair, options)
