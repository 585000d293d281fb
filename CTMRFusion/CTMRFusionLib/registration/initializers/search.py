"""The ``search`` initializer: orientations and translations scored by MI on a coarse grid (any flip).

See :mod:`CTMRFusionLib.registration.orientation_search` for the candidates and how they are scored.
"""

from __future__ import annotations

import SimpleITK as sitk

from CTMRFusionLib.registration.orientation_search import principal_axes, search_orientation


def proposals(pair, options, start=None, stage=None) -> list[sitk.Euler3DTransform]:
    """The orientation search's refined shortlist, best first on the coarse grid, about the CT body centroid
    (``start`` is not used)."""
    coarse_fixed, coarse_moving, coarse_mask = pair.search_grid(options.search_spacing_mm)
    axes = (principal_axes(pair.fixed_shape_mask), principal_axes(pair.moving_shape_mask))
    refined, _ = search_orientation(
        coarse_fixed,
        coarse_moving,
        pair.fixed_center,
        pair.moving_center,
        options,
        coarse_mask,
        stage.progress if stage else None,
        stage.cancel if stage else None,
        axes,
        base=stage.base if stage else 0.0,
        share=stage.share if stage else 1.0,
    )
    return refined


def initialize(pair, options, start=None, stage=None) -> sitk.Euler3DTransform:
    """The best candidate of the orientation search on its coarse grid."""
    return proposals(pair, options, start, stage)[0]
