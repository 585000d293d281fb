"""Which source images each slice of a derived series came from (its Source Image Sequence).

A slice of the MR resampled on the CT grid takes its values from the MR slices that its corners map to, widened
by the interpolator's reach; a slice of a volume on the CT's own grid (the fused volume) comes from the CT slice at
the same place. Slices are matched to instances by position along the slice normal, the order in which SimpleITK
stacks a series; a series that is not one instance per slice (multi-frame) is referenced whole.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.dicom.source_series import SourceInstance, SourceSeries

#: How many slices on each side an interpolator reads (Hamming-windowed sinc has radius 5).
INTERPOLATOR_REACH = {"sinc": 5, "bspline": 2, "linear": 1, "nearest": 0}


def _instances_by_slice(image: sitk.Image, series: SourceSeries) -> list[SourceInstance] | None:
    if image.GetSize()[2] != len(series.instances) or any(i.position is None for i in series.instances):
        return None
    normal = np.array(image.GetDirection()).reshape(3, 3)[:, 2]
    return [series.instances[i] for i in series.slice_order(normal)]


def same_grid_sources(image: sitk.Image, series: SourceSeries) -> list[tuple[SourceInstance, ...]]:
    """For a volume on ``series``'s own grid: each slice's source is the series' slice at the same place."""
    by_slice = _instances_by_slice(image, series)
    if by_slice is None:
        return [series.instances] * image.GetSize()[2]
    return [(instance,) for instance in by_slice]


def resampled_sources(
    grid: sitk.Image,
    moving: sitk.Image,
    series: SourceSeries,
    grid_to_moving: sitk.Transform,
    interpolator: str,
) -> list[tuple[SourceInstance, ...]]:
    """For ``moving`` resampled on ``grid`` through ``grid_to_moving``: each grid slice's contributing slices."""
    by_slice = _instances_by_slice(moving, series)
    depth = grid.GetSize()[2]
    if by_slice is None:
        return [series.instances] * depth
    reach = INTERPOLATOR_REACH.get(interpolator, 5)
    last_column, last_row = grid.GetSize()[0] - 1, grid.GetSize()[1] - 1
    sources = []
    for k in range(depth):
        heights = []
        for i, j in itertools.product((0, last_column), (0, last_row)):
            point = grid_to_moving.TransformPoint(grid.TransformContinuousIndexToPhysicalPoint((i, j, k)))
            heights.append(moving.TransformPhysicalPointToContinuousIndex(point)[2])
        low = max(math.floor(min(heights)) - reach, 0)
        high = min(math.ceil(max(heights)) + reach, len(by_slice) - 1)
        sources.append(tuple(by_slice[low : high + 1]) if low <= high else ())
    return sources
