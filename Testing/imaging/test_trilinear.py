"""numpy trilinear interpolation gives scipy.ndimage.map_coordinates' order-1 values exactly, on the grid's edges
and corners too, and on grids with an axis of one voxel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from CTMRFusionLib.imaging.trilinear import trilinear


@pytest.mark.parametrize("shape", [(19, 64, 48), (1, 30, 40), (5, 1, 7), (3, 4, 1)])
def test_trilinear_equals_map_coordinates_order_1(shape):
    rng = np.random.default_rng(sum(shape))
    volume = rng.normal(100.0, 30.0, shape).astype(np.float32)
    sizes = np.array(shape[::-1])
    index = np.stack([rng.uniform(0.0, size - 1.0, 5000) for size in sizes])
    index[:, :8] = np.array([[(corner >> axis & 1) * (sizes[axis] - 1) for axis in range(3)] for corner in range(8)]).T
    index[:, 8:20] = np.floor(index[:, 8:20])  # on voxel centres
    expected = ndimage.map_coordinates(volume, index[::-1], order=1, prefilter=False)
    values = trilinear(volume, index)
    assert values.dtype == volume.dtype
    np.testing.assert_array_equal(values, expected)
    assert values[0] == volume[0, 0, 0] and values[7] == volume[-1, -1, -1]
