"""The eight standard image-fusion quality metrics, for 2D images on the 0–255 scale.

All functions take the two sources ``a`` (CT) and ``b`` (MR) and the fused image ``f`` as 2D arrays of equal
shape with values in [0, 255] (8-bit images, or float images on that scale). Higher is better for all eight.

- EN (bits): Shannon entropy of ``f``'s 256-bin histogram (integer grey levels 0…255).
- SD: standard deviation of ``f`` (population, grey levels).
- SF: spatial frequency sqrt(RF² + CF²) from the mean squared differences of horizontal/vertical neighbours.
- MI (bits): MI(f, a) + MI(f, b) from 256×256-bin joint histograms of integer grey levels. Papers that use
  natural logarithms report nats: nats = bits × ln 2.
- SCD: sum of correlations of differences, corr(f − b, a) + corr(f − a, b) (Aslantas & Bendes 2015).
- VIF: pixel-domain visual information fidelity (Sheikh & Bovik 2006) over 4 scales, VIF(a→f) + VIF(b→f).
- Q^AB/F: Xydeas & Petrović (2000) edge-preservation with Sobel gradients, L = 1.
- SSIM: SSIM(f, a) + SSIM(f, b), Wang et al. (2004): 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03,
  data range 255, mean over the valid part of the map.

Borders: Sobel and neighbour differences use the image itself ("nearest" padding for Sobel); VIF and SSIM
use only fully covered ("valid") windows, as the reference implementations do.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

METRIC_NAMES = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM")


def _as_float(image) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"fusion metrics take 2D images; got shape {array.shape}")
    return array


def _grey_levels(image) -> np.ndarray:
    """Integer grey levels 0…255 (rounded and clipped) for histogram-based metrics."""
    return np.clip(np.rint(_as_float(image)), 0, 255).astype(np.int64)


def _entropy_bits(probabilities: np.ndarray) -> float:
    p = probabilities[probabilities > 0]
    return float(-(p * np.log2(p)).sum())


def entropy(f) -> float:
    """EN in bits: Shannon entropy of the 256-bin grey-level histogram."""
    levels = _grey_levels(f)
    histogram = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    return _entropy_bits(histogram / histogram.sum())


def standard_deviation(f) -> float:
    """SD: population standard deviation of the grey levels."""
    return float(_as_float(f).std())


def spatial_frequency(f) -> float:
    """SF = sqrt(RF² + CF²); RF/CF: root mean square of differences between row/column neighbours."""
    f = _as_float(f)
    row = np.diff(f, axis=1)  # along each row: horizontal neighbours
    col = np.diff(f, axis=0)
    return float(math.sqrt((row**2).mean() + (col**2).mean()))


def mutual_information_pair(x, y) -> float:
    """MI(x, y) in bits from the 256×256 joint histogram of integer grey levels."""
    joint = np.bincount((_grey_levels(x) * 256 + _grey_levels(y)).ravel(), minlength=256 * 256)
    joint = joint.reshape(256, 256).astype(np.float64)
    joint /= joint.sum()
    return _entropy_bits(joint.sum(axis=1)) + _entropy_bits(joint.sum(axis=0)) - _entropy_bits(joint)


def mutual_information(a, b, f) -> float:
    """MI in bits: MI(f, a) + MI(f, b)."""
    return mutual_information_pair(f, a) + mutual_information_pair(f, b)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denominator = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


def sum_of_correlations_of_differences(a, b, f) -> float:
    """SCD = corr(f − b, a) + corr(f − a, b)."""
    a, b, f = _as_float(a), _as_float(b), _as_float(f)
    return _correlation(f - b, a) + _correlation(f - a, b)


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    """The 1-D factor of a normalised ``size``×``size`` Gaussian window: the window is its outer product with
    itself, so filters with it run as two 1-D passes (the same values as the 2-D window, 8× fewer operations
    for the 17×17 windows of VIF)."""
    axis = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(axis**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Correlation with the separable window ``outer(window, window)`` (zero outside the image), keeping only
    positions where the window lies inside the image."""
    rows = ndimage.correlate1d(image, window, axis=0, mode="constant")
    full = ndimage.correlate1d(rows, window, axis=1, mode="constant")
    r = window.shape[0] // 2
    return full[r : image.shape[0] - r, r : image.shape[1] - r]


def _vif_pixel(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Pixel-domain VIF of ``distorted`` against ``reference`` (4 scales, noise variance 2)."""
    sigma_n_sq = 2.0
    eps = 1e-10
    numerator = denominator = 0.0
    ref, dist = reference, distorted
    for scale in range(1, 5):
        size = 2 ** (4 - scale + 1) + 1
        window = _gaussian_window(size, size / 5.0)
        if scale > 1:
            ref = _filter_valid(ref, window)[::2, ::2]
            dist = _filter_valid(dist, window)[::2, ::2]
        mu1, mu2 = _filter_valid(ref, window), _filter_valid(dist, window)
        sigma1_sq = np.maximum(_filter_valid(ref * ref, window) - mu1 * mu1, 0.0)
        sigma2_sq = np.maximum(_filter_valid(dist * dist, window) - mu2 * mu2, 0.0)
        sigma12 = _filter_valid(ref * dist, window) - mu1 * mu2

        g = sigma12 / (sigma1_sq + eps)
        sv_sq = sigma2_sq - g * sigma12
        flat_ref = sigma1_sq < eps
        g[flat_ref] = 0.0
        sv_sq[flat_ref] = sigma2_sq[flat_ref]
        sigma1_sq = np.where(flat_ref, 0.0, sigma1_sq)
        flat_dist = sigma2_sq < eps
        g[flat_dist] = 0.0
        sv_sq[flat_dist] = 0.0
        negative = g < 0
        sv_sq[negative] = sigma2_sq[negative]
        g[negative] = 0.0
        sv_sq = np.maximum(sv_sq, eps)

        numerator += float(np.log10(1.0 + g * g * sigma1_sq / (sv_sq + sigma_n_sq)).sum())
        denominator += float(np.log10(1.0 + sigma1_sq / sigma_n_sq).sum())
    return numerator / denominator if denominator > 0 else 0.0


def visual_information_fidelity(a, b, f) -> float:
    """VIF = VIF(a→f) + VIF(b→f), pixel domain, 4 scales."""
    f = _as_float(f)
    return _vif_pixel(_as_float(a), f) + _vif_pixel(_as_float(b), f)


_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _sobel_strength_orientation(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx = ndimage.correlate(image, _SOBEL_X, mode="nearest")
    sy = ndimage.correlate(image, _SOBEL_X.T, mode="nearest")
    strength = np.hypot(sx, sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        orientation = np.where(sx == 0, math.pi / 2, np.arctan(sy / np.where(sx == 0, 1.0, sx)))
    return strength, orientation


def _edge_preservation(g_source, a_source, g_fused, a_fused) -> np.ndarray:
    """Q^{XF} per pixel: sigmoid-weighted agreement of edge strength and orientation."""
    high = np.maximum(g_source, g_fused)
    strength_ratio = np.divide(np.minimum(g_source, g_fused), high, out=np.zeros_like(high), where=high > 0)
    orientation_agreement = np.abs(np.abs(a_source - a_fused) - math.pi / 2) / (math.pi / 2)
    q_g = 0.9994 / (1.0 + np.exp(-15.0 * (strength_ratio - 0.5)))
    q_a = 0.9879 / (1.0 + np.exp(-22.0 * (orientation_agreement - 0.8)))
    return q_g * q_a


def qabf(a, b, f) -> float:
    """Q^AB/F (Xydeas–Petrović): gradient-weighted edge preservation from both sources, in [0, 1)."""
    g_a, o_a = _sobel_strength_orientation(_as_float(a))
    g_b, o_b = _sobel_strength_orientation(_as_float(b))
    g_f, o_f = _sobel_strength_orientation(_as_float(f))
    weights = g_a + g_b
    total = float(weights.sum())
    if total == 0:
        return 0.0
    q = _edge_preservation(g_a, o_a, g_f, o_f) * g_a + _edge_preservation(g_b, o_b, g_f, o_f) * g_b
    return float(q.sum() / total)


def ssim_pair(x, y, data_range: float = 255.0) -> float:
    """Mean SSIM of x and y (Gaussian 11×11, σ 1.5, valid windows)."""
    x, y = _as_float(x), _as_float(y)
    window = _gaussian_window(11, 1.5)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov = _filter_valid(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def structural_similarity(a, b, f) -> float:
    """SSIM = SSIM(f, a) + SSIM(f, b), data range 255."""
    return ssim_pair(f, a) + ssim_pair(f, b)


def all_metrics(a, b, f) -> dict[str, float]:
    """All eight metrics of fused image ``f`` from sources ``a`` (CT) and ``b`` (MR), keyed by METRIC_NAMES."""
    return {
        "EN": entropy(f),
        "SD": standard_deviation(f),
        "SF": spatial_frequency(f),
        "MI": mutual_information(a, b, f),
        "SCD": sum_of_correlations_of_differences(a, b, f),
        "VIF": visual_information_fidelity(a, b, f),
        "Qabf": qabf(a, b, f),
        "SSIM": structural_similarity(a, b, f),
    }
