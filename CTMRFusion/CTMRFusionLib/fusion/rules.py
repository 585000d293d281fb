"""Classic pixel-level fusion rules for one pair of co-registered 2D slices (no torch needed).

Each rule takes the CT slice ``a`` and the MR slice ``b`` as float arrays of the same shape on a common scale
(0–255 for 8-bit images, or the normalised scale of :mod:`fusion_normalization`) and returns the fused slice
as float64 on that scale.

- ``average``: (a + b) / 2.
- ``max``: pixel-wise maximum — a strong baseline for CT/MR, where bone is bright on CT and soft tissue on MR.
- ``laplacian``: Laplacian-pyramid fusion (Burt & Adelson 1983 style): detail bands take the coefficient of
  larger magnitude, the coarsest band is averaged.
- ``gff``: guided-filtering fusion (Li, Kang & Hu, IEEE TIP 2013) with the paper's parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def average(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.asarray(a, np.float64) + np.asarray(b, np.float64)) / 2.0


def maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(a, np.float64), np.asarray(b, np.float64))


def _blur(image: np.ndarray) -> np.ndarray:
    out = ndimage.convolve1d(image, _BINOMIAL, axis=0, mode="reflect")
    return ndimage.convolve1d(out, _BINOMIAL, axis=1, mode="reflect")


def _reduce(image: np.ndarray) -> np.ndarray:
    return _blur(image)[::2, ::2]


def _expand(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    up = np.zeros(shape, dtype=np.float64)
    up[::2, ::2] = image[: (shape[0] + 1) // 2, : (shape[1] + 1) // 2]
    return _blur(up) * 4.0


def laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Band-pass levels (finest first) plus the low-pass residual as the last element."""
    bands, current = [], np.asarray(image, np.float64)
    for _ in range(levels):
        if min(current.shape) < 4:
            break
        smaller = _reduce(current)
        bands.append(current - _expand(smaller, current.shape))
        current = smaller
    bands.append(current)
    return bands


def reconstruct(bands: list[np.ndarray]) -> np.ndarray:
    current = bands[-1]
    for band in reversed(bands[:-1]):
        current = band + _expand(current, band.shape)
    return current


def laplacian(a: np.ndarray, b: np.ndarray, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion: max-magnitude detail coefficients, averaged low-pass residual."""
    pa, pb = laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)
    fused = [np.where(np.abs(x) >= np.abs(y), x, y) for x, y in zip(pa[:-1], pb[:-1])]
    fused.append((pa[-1] + pb[-1]) / 2.0)
    return reconstruct(fused)


def _box_mean(image: np.ndarray, radius: int) -> np.ndarray:
    return ndimage.uniform_filter(image, size=2 * radius + 1, mode="reflect")


def guided_filter(p: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of ``p`` with grey-level ``guide`` (box radius in pixels, eps on guide²)."""
    mean_i, mean_p = _box_mean(guide, radius), _box_mean(p, radius)
    cov_ip = _box_mean(guide * p, radius) - mean_i * mean_p
    var_i = _box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box_mean(a, radius) * guide + _box_mean(b, radius)


def gff(a: np.ndarray, b: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """Guided-filtering fusion (Li, Kang & Hu 2013).

    Two-scale decomposition with a 31×31 mean filter; saliency = Gaussian-smoothed (r 5, σ 5) absolute
    3×3 Laplacian; binary weight maps refined by guided filters (base: r 45, ε 0.3; detail: r 7, ε 1e-6) with
    the source scaled to [0, 1] by ``scale`` as guide.
    """
    sources = [np.asarray(a, np.float64), np.asarray(b, np.float64)]
    bases = [ndimage.uniform_filter(s, size=31, mode="reflect") for s in sources]
    details = [s - base for s, base in zip(sources, bases)]
    laplace = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    saliency = [
        ndimage.gaussian_filter(np.abs(ndimage.correlate(s, laplace, mode="reflect")), 5.0, truncate=1.0)
        for s in sources
    ]
    winner = saliency[0] >= saliency[1]
    masks = [winner.astype(np.float64), (~winner).astype(np.float64)]
    guides = [s / scale for s in sources]
    w_base = [guided_filter(m, g, 45, 0.3) for m, g in zip(masks, guides)]
    w_detail = [guided_filter(m, g, 7, 1e-6) for m, g in zip(masks, guides)]

    def normalised(weights):
        weights = [np.clip(w, 0.0, None) for w in weights]
        total = weights[0] + weights[1]
        total = np.where(total > 1e-12, total, 1.0)
        return [w / total for w in weights]

    w_base, w_detail = normalised(w_base), normalised(w_detail)
    return sum(w * base for w, base in zip(w_base, bases)) + sum(w * d for w, d in zip(w_detail, details))


RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "average": average,
    "max": maximum,
    "laplacian": laplacian,
    "gff": gff,
}


def fuse_slices(method: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fuse one pair of slices with the rule named ``method`` (one of :data:`RULES`)."""
    try:
        rule = RULES[method]
    except KeyError:
        raise ValueError(f"Unknown fusion rule '{method}'; choose one of {', '.join(RULES)}.") from None
    return rule(a, b)
