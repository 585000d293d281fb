"""Training losses for the fusion U-Net (needs torch). Images are (N, 1, H, W) tensors in [0, 1].

Unsupervised (no fused target; the shipped model's mode), a weighted sum of:
- ``ssim``: 2 − SSIM(F, CT) − SSIM(F, MR) — structural fidelity to both sources (Gaussian 11×11, σ 1.5).
- ``intensity``: mean |F − [max(CT, MR) + κ·min(CT, MR)]| — keeps bright bone from CT and bright soft
  tissue from MR; κ = ``min_share`` lets the darker source still show through (0 gives the max rule).
  With ``screen_target`` the darker source's share fades as the brighter one nears white,
  max + κ·min·(1 − max) (a screen blend), so the target never has to be clipped at 1.
- ``gradient``: mean | |∇F| − γ·max(|∇CT|, |∇MR|) | with Sobel gradients — keeps the stronger edge of the
  two; γ = ``gradient_gain`` > 1 asks for slightly crisper edges than either source.
- ``scd``: 2 − [corr(F − MR, CT) + corr(F − CT, MR)] — the fused image should carry what each source adds
  to the other (sum of correlations of differences, per image).
- ``edges``: 1 − Q^AB/F(F), a differentiable Xydeas–Petrović edge preservation (:func:`edge_preservation`):
  each source's edges kept at their own strength and orientation, weighted by how strong they are.
- ``entropy``: 1 − H(F | body)/log2(bins) — how far the grey-level histogram of F inside the body
  (where max(CT, MR) > 4/255) is from using every level evenly, H from a 64-bin histogram with linear
  two-bin voting so that it has a gradient. It asks for tissue contrast spread over the whole grey range;
  the background is left out so that it cannot be won with a halo.

Supervised (CT, MR, target triplets): mean |F − T| + (1 − SSIM(F, T)).

Distillation (the target T is a teacher model's output): the supervised loss plus mean |∇F − ∇T| (Sobel,
both directions, weight ``DISTILLATION_GRADIENT_WEIGHT``), so the student keeps the teacher's edges, which
Q^AB/F and VIF measure, and not only its grey levels; optionally (``teacher_floor``) plus the shortfall of
the student's metrics against the teacher's on the same crops, VIF included (:func:`information_fidelity`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossWeights:
    ssim: float = 1.0
    intensity: float = 1.0
    gradient: float = 1.0
    scd: float = 0.5
    min_share: float = 0.0  # κ of the intensity target (not a weight)
    screen_target: bool = False  # intensity target max + κ·min·(1 − max) instead of max + κ·min (not a weight)
    gradient_gain: float = 1.0  # γ of the gradient target (not a weight)
    entropy: float = 0.0
    edges: float = 0.0
    rivals: float = 0.0  # weight of the shortfall against the classic rules (see ``rival_shortfall``)
    rival_metrics: str = "SD,SF,SCD,SSIM,Qabf"  # metrics of that term, each optionally "NAME:weight" (default 1)
    rival_margin: float = 0.01  # relative lead over the best rule it asks for (not a weight)
    # distillation only: weight of the shortfall against the teacher's own output (``rival_shortfall`` with the
    # teacher as the one rival), on ``teacher_metrics``, asking for a lead of ``teacher_margin``
    teacher_floor: float = 0.0
    teacher_metrics: str = "EN,SD,SF,SCD,VIF,Qabf,SSIM"
    teacher_margin: float = 0.0

    def __post_init__(self):
        # an unknown metric name or a bad weight fails here, before any data is loaded
        if self.rivals:
            rival_metric_weights(self)
        if self.teacher_floor:
            metric_weights(self.teacher_metrics, "teacher_metrics")

    def as_dict(self) -> dict:
        return asdict(self)


def _gaussian_kernel(size: int = 11, sigma: float = 1.5, device=None, dtype=None) -> torch.Tensor:
    axis = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(axis**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image (N,) for images in [0, 1] (valid windows, K1 0.01, K2 0.03)."""
    kernel = _gaussian_kernel(device=x.device, dtype=x.dtype)
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = F.conv2d(x, kernel), F.conv2d(y, kernel)
    var_x = F.conv2d(x * x, kernel) - mu_x**2
    var_y = F.conv2d(y * y, kernel) - mu_y**2
    cov = F.conv2d(x * y, kernel) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1)


def sobel_xy(x: torch.Tensor) -> torch.Tensor:
    """Sobel derivatives (N, 2, H, W): along x (columns) then y (rows); replicated borders."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device, dtype=x.dtype)
    kernels = torch.stack([kx, kx.t()])[:, None]
    return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), kernels)


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    g = sobel_xy(x)
    return torch.sqrt(g[:, :1] ** 2 + g[:, 1:] ** 2 + 1e-12)


def edge_preservation(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Differentiable Q^AB/F (Xydeas & Petrović 2000) per image (N,): how well F keeps each source's Sobel
    edges — strength ratio and line orientation through the same sigmoids as the metric — weighted by the
    sources' edge strengths. Equals ``fusion_metrics.qabf`` up to the smoothing constants."""
    g_f = sobel_xy(fused)
    m_f = torch.sqrt((g_f**2).sum(1) + 1e-12)
    preserved, total = 0.0, 0.0
    for source in (a, b):
        g_s = sobel_xy(source)
        m_s = torch.sqrt((g_s**2).sum(1) + 1e-12)
        ratio = torch.minimum(m_s, m_f) / torch.maximum(m_s, m_f)
        cosine = ((g_s * g_f).sum(1).abs() / (m_s * m_f)).clamp(max=1 - 1e-6)
        agreement = 1 - torch.arccos(cosine) / (torch.pi / 2)  # 1: same line, 0: perpendicular
        q = (0.9994 * torch.sigmoid(15.0 * (ratio - 0.5))) * (0.9879 * torch.sigmoid(22.0 * (agreement - 0.8)))
        preserved = preserved + (q * m_s).flatten(1).sum(1)
        total = total + m_s.flatten(1).sum(1)
    return preserved / (total + 1e-12)


def correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per image (N,)."""
    x = x.flatten(1) - x.flatten(1).mean(dim=1, keepdim=True)
    y = y.flatten(1) - y.flatten(1).mean(dim=1, keepdim=True)
    return (x * y).sum(1) / torch.sqrt((x * x).sum(1) * (y * y).sum(1) + 1e-12)


BODY_THRESHOLD = 4.0 / 255.0


def soft_entropy_bits(x: torch.Tensor, mask: torch.Tensor, bins: int = 64) -> torch.Tensor:
    """Entropy (bits) per image (N,) of the values of x in [0, 1] where mask is true, from a histogram with
    linear (two-bin) voting so that it is differentiable in x."""
    position = (x.flatten(1).clamp(0, 1) * bins - 0.5).clamp(0, bins - 1)
    low = position.floor().clamp(max=bins - 2)
    upper_share = position - low
    weight = mask.flatten(1).to(x.dtype)
    histogram = torch.zeros(x.shape[0], bins, device=x.device, dtype=x.dtype)
    histogram = histogram.scatter_add(1, low.long(), (1 - upper_share) * weight)
    histogram = histogram.scatter_add(1, low.long() + 1, upper_share * weight)
    p = histogram / (histogram.sum(dim=1, keepdim=True) + 1e-12)
    return -(p * torch.log2(p + 1e-12)).sum(dim=1)


def body_entropy_bits(fused, ct, mr) -> torch.Tensor:
    """Entropy (bits, 64 bins) of F inside the body, where max(CT, MR) > 4/255, per image (N,)."""
    return soft_entropy_bits(fused, (torch.maximum(ct, mr) > BODY_THRESHOLD).to(fused.dtype))


def spatial_frequency(x: torch.Tensor) -> torch.Tensor:
    """SF per image (N,): sqrt(mean squared row-neighbour difference + mean squared column-neighbour one)."""
    rows = (x[..., :, 1:] - x[..., :, :-1]).flatten(1)
    cols = (x[..., 1:, :] - x[..., :-1, :]).flatten(1)
    return torch.sqrt((rows**2).mean(1) + (cols**2).mean(1) + 1e-12)


def _filter_valid(x: torch.Tensor, size: int) -> torch.Tensor:
    """Correlation with the normalised ``size``×``size`` Gaussian window of σ = size/5 (the VIF windows),
    valid positions only."""
    return F.conv2d(x, _gaussian_kernel(size, size / 5.0, device=x.device, dtype=x.dtype))


def information_fidelity(reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
    """Pixel-domain VIF (Sheikh & Bovik 2006, 4 scales, noise variance 2 grey levels²) of ``distorted``
    against ``reference``, per image (N,), for images in [0, 1]: the same computation as
    ``fusion_metrics.visual_information_fidelity``'s, on the 0–255 scale, written with ``torch.where`` so
    that it has a gradient in ``distorted``. Images need at least 50 pixels a side (4 scales of windows)."""
    noise, eps = 2.0, 1e-10
    ref, dist = reference * 255.0, distorted * 255.0
    numerator = denominator = 0.0
    for scale in range(1, 5):
        size = 2 ** (5 - scale) + 1
        if scale > 1:
            ref, dist = _filter_valid(ref, size)[..., ::2, ::2], _filter_valid(dist, size)[..., ::2, ::2]
        mu_r, mu_d = _filter_valid(ref, size), _filter_valid(dist, size)
        var_r = (_filter_valid(ref * ref, size) - mu_r * mu_r).clamp(min=0.0)
        var_d = (_filter_valid(dist * dist, size) - mu_d * mu_d).clamp(min=0.0)
        cov = _filter_valid(ref * dist, size) - mu_r * mu_d
        gain = cov / (var_r + eps)
        residual = var_d - gain * cov
        flat_ref, flat_dist = var_r < eps, var_d < eps
        gain = torch.where(flat_ref, torch.zeros_like(gain), gain)
        residual = torch.where(flat_ref, var_d, residual)
        var_r = torch.where(flat_ref, torch.zeros_like(var_r), var_r)
        gain = torch.where(flat_dist, torch.zeros_like(gain), gain)
        residual = torch.where(flat_dist, torch.zeros_like(residual), residual)
        negative = gain < 0
        residual = torch.where(negative, var_d, residual)
        gain = torch.where(negative, torch.zeros_like(gain), gain)
        residual = residual.clamp(min=eps)
        numerator = numerator + torch.log10(1 + gain * gain * var_r / (residual + noise)).flatten(1).sum(1)
        denominator = denominator + torch.log10(1 + var_r / noise).flatten(1).sum(1)
    return numerator / denominator.clamp(min=1e-12)


# Differentiable per-image (N,) versions of the metrics of ``fusion_metrics`` (same names), on the [0, 1]
# scale: SD, SF and Q^AB/F as defined there; SCD and VIF exactly; SSIM with valid windows; EN as the entropy
# of a 64-bin histogram inside the body (so that a halo in the background cannot win it).
METRIC_PROXIES = {
    "SD": lambda f, ct, mr: f.flatten(1).std(dim=1, unbiased=False),
    "SF": lambda f, ct, mr: spatial_frequency(f),
    "SCD": lambda f, ct, mr: correlation(f - mr, ct) + correlation(f - ct, mr),
    "SSIM": lambda f, ct, mr: ssim(f, ct) + ssim(f, mr),
    "Qabf": lambda f, ct, mr: edge_preservation(f, ct, mr),
    "EN": lambda f, ct, mr: body_entropy_bits(f, ct, mr),
    "VIF": lambda f, ct, mr: information_fidelity(ct, f) + information_fidelity(mr, f),
}


def rival_shortfall(fused, ct, mr, rivals, metrics: dict, margin: float) -> torch.Tensor:
    """How far F falls short of leading the classic rules, per batch: for each metric m and image, with
    R = the best rule's value of m on that image, relu((1 + margin)·R − m(F)) / |R|, averaged over images,
    weighted by ``metrics`` ({name: weight}) and divided by the number of metrics (so weights of 1 give the
    plain mean). Zero once F beats every rule by the margin on every metric, so the term stops pulling on
    the metrics already won and leaves the other losses in charge. ``rivals`` (N, K, H, W): the K rules'
    fused images of the same crops, on F's scale."""
    terms = []
    for name, weight in metrics.items():
        proxy = METRIC_PROXIES[name]
        with torch.no_grad():
            best = torch.stack([proxy(rivals[:, k : k + 1], ct, mr) for k in range(rivals.shape[1])]).amax(0)
        terms.append(weight * torch.relu((1 + margin) * best - proxy(fused, ct, mr)) / (best.abs() + 1e-6))
    return torch.stack(terms).mean()


def unsupervised_loss(fused, ct, mr, weights: LossWeights, rivals=None) -> tuple[torch.Tensor, dict]:
    """Total loss and its terms (floats) for a batch without targets; ``rivals`` (N, K, H, W) are the classic
    rules' images of the batch, needed only when ``weights.rivals`` is set."""
    brighter, darker = torch.maximum(ct, mr), torch.minimum(ct, mr)
    share = weights.min_share * darker * ((1 - brighter) if weights.screen_target else 1.0)
    target = brighter + share
    edges = weights.gradient_gain * torch.maximum(sobel_magnitude(ct), sobel_magnitude(mr))
    terms = {
        "ssim": (2 - ssim(fused, ct) - ssim(fused, mr)).mean(),
        "intensity": (fused - target.clamp(max=1.0)).abs().mean(),
        "gradient": (sobel_magnitude(fused) - edges).abs().mean(),
        "scd": (2 - correlation(fused - mr, ct) - correlation(fused - ct, mr)).mean(),
    }
    if weights.edges:
        terms["edges"] = (1 - edge_preservation(fused, ct, mr)).mean()
    if weights.entropy:
        terms["entropy"] = (1 - body_entropy_bits(fused, ct, mr) / 6.0).mean()  # log2(64) = 6 bits
    if weights.rivals:
        if rivals is None:
            raise ValueError("The 'rivals' loss needs the classic rules' images of the batch.")
        terms["rivals"] = rival_shortfall(fused, ct, mr, rivals, rival_metric_weights(weights), weights.rival_margin)
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}


def rival_metric_weights(weights: LossWeights) -> dict:
    """{metric name: weight} of the rivals term (``rival_metrics``); see :func:`metric_weights`."""
    return metric_weights(weights.rival_metrics, "rival_metrics")


def metric_weights(text: str, label: str) -> dict:
    """{metric name: weight} from a list like "EN,SF,SSIM:3" → EN 1, SF 1, SSIM 3 (``label``: the setting's
    name, for messages). Raises ValueError on an unknown name, a repeated one, or a weight that is not a
    number > 0."""
    parsed = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, weight_text = (piece.strip() for piece in item.partition(":"))
        if name not in METRIC_PROXIES:
            raise ValueError(f"{label}: unknown metric {name!r}; choose from {', '.join(METRIC_PROXIES)}.")
        if name in parsed:
            raise ValueError(f"{label}: {name} is listed twice.")
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            weight = float("nan")
        if not weight > 0:
            raise ValueError(f"{label}: the weight of {name} must be a number > 0, not {weight_text!r}.")
        parsed[name] = weight
    if not parsed:
        raise ValueError(f"{label}: empty list; choose from {', '.join(METRIC_PROXIES)}.")
    return parsed


def supervised_loss(fused, target) -> tuple[torch.Tensor, dict]:
    terms = {"l1": (fused - target).abs().mean(), "ssim": (1 - ssim(fused, target)).mean()}
    return terms["l1"] + terms["ssim"], {name: float(value.detach()) for name, value in terms.items()}


#: Weight of the Sobel-gradient term of :func:`distillation_loss` (Sobel responses are ~8× grey-level steps).
DISTILLATION_GRADIENT_WEIGHT = 1.0


def distillation_loss(fused, target, ct=None, mr=None, weights: LossWeights | None = None) -> tuple[torch.Tensor, dict]:
    """Supervised loss to a teacher's output T plus mean |∇F − ∇T| (see the module docstring); with
    ``weights.teacher_floor`` (needs the sources ``ct`` and ``mr``) plus that weight times the shortfall of F's
    metrics against T's own on the same images (:func:`rival_shortfall`, T the one rival): it is zero where F
    already matches or beats the teacher by ``teacher_margin``, so it pulls only on the metrics the student
    is losing, which copying T's pixels alone leaves a little short."""
    total, terms = supervised_loss(fused, target)
    gradient = (sobel_xy(fused) - sobel_xy(target)).abs().mean()
    total, terms = total + DISTILLATION_GRADIENT_WEIGHT * gradient, {**terms, "gradient": float(gradient.detach())}
    if weights is not None and weights.teacher_floor:
        metrics = metric_weights(weights.teacher_metrics, "teacher_metrics")
        floor = rival_shortfall(fused, ct, mr, target, metrics, weights.teacher_margin)
        total, terms = total + weights.teacher_floor * floor, {**terms, "teacher_floor": float(floor.detach())}
    return total, terms
