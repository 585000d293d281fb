"""Products of many 3-D points with 3×3 matrices, computed in numpy's own loops instead of BLAS.

numpy gives a matrix product to BLAS (OpenBLAS in numpy's wheels), which splits a large one over its own thread
pool; those threads then spin for a while waiting for more. The registration's products are thin (10⁴–10⁵ points by
a 3×3 matrix): the pool gains nothing on them, and while its threads spin they hold the core that the registration's
second thread needs (its set-ups, half of each finest-level metric evaluation). Measured on three Harvard stacks
(``ctmrfusion register``, 2 cores): 0.4 s of CPU time per registration spun, and the finest level's metric split
over two threads ran 32 ms an evaluation with the pool, 24 ms without. ``np.einsum`` without ``optimize`` never
calls BLAS.

Points are either rows (N × 3) or by axis (3 × N: the x, y and z arrays, the layout the hot loops use).
"""

from __future__ import annotations

import numpy as np


def map_rows(points: np.ndarray, matrix: np.ndarray, offset=None) -> np.ndarray:
    """``points @ matrix.T + offset`` for (N, 3) ``points`` and a 3×3 ``matrix``: (N, 3)."""
    mapped = np.einsum("nj,ij->ni", points, matrix)
    if offset is not None:
        mapped += np.asarray(offset, dtype=mapped.dtype)
    return mapped


def map_by_axis(matrix: np.ndarray, points_by_axis: np.ndarray, offset=None) -> np.ndarray:
    """``matrix @ points_by_axis + offset[:, None]`` for (3, N) points: (3, N)."""
    mapped = np.einsum("ij,jn->in", matrix, points_by_axis)
    if offset is not None:
        mapped += np.asarray(offset, dtype=mapped.dtype)[:, None]
    return mapped


def cross_moments(a_by_axis: np.ndarray, b_by_axis: np.ndarray) -> np.ndarray:
    """The 3×3 matrix of Σₙ a[i, n] · b[j, n] for two (3, N) arrays (``a @ b.T``)."""
    return np.einsum("in,jn->ij", a_by_axis, b_by_axis)
