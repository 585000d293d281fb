"""Thin products of points and 3×3 matrices outside BLAS (core/point_products.py): the matrix products they replace."""

import numpy as np

from CTMRFusionLib.core.point_products import cross_moments, map_by_axis, map_rows


def test_the_products_are_the_matrix_products():
    rng = np.random.default_rng(1)
    points, matrix, offset = rng.normal(size=(50_000, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    np.testing.assert_allclose(map_rows(points, matrix, offset), points @ matrix.T + offset, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(map_rows(points, matrix), points @ matrix.T, rtol=1e-12, atol=1e-12)
    by_axis = np.ascontiguousarray(points.T)
    np.testing.assert_allclose(map_by_axis(matrix, by_axis, offset), matrix @ by_axis + offset[:, None], atol=1e-12)
    other = rng.normal(size=(3, 50_000))
    np.testing.assert_allclose(cross_moments(by_axis, other), by_axis @ other.T, rtol=1e-10)


def test_a_float32_offset_map_keeps_the_points_dtype_and_leaves_the_inputs_alone():
    points = np.arange(12, dtype=float).reshape(4, 3)
    kept = points.copy()
    mapped = map_rows(points, np.eye(3), (1.0, 2.0, 3.0))
    assert mapped.dtype == np.float64
    np.testing.assert_array_equal(mapped, kept + [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(points, kept)
