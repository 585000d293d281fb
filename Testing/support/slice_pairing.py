"""Which CT slice each MR slice of a stack belongs with, judged by the data alone (issue 16's stack 37).

Shifts an MR along the slice axis by whole slices (LPS z), so that every MR slice lands exactly on a CT slice
and resampling neither blurs nor sharpens anything, and measures three similarity measures over the CT body
(CT > 10) where the shifted MR is non-zero: MI (the registration's own Mattes-style estimate, 64 bins, every
body voxel; higher is better), NGF (normalized gradient fields: mean cos² of the angle between the CT and MR
gradients; edges only) and CR (the correlation ratio of the MR given the CT). Shifts between slices are left
out: there linear interpolation blurs the MR across the slice gap, which by itself raises MI and CR and
lowers NGF whatever the alignment. Used by ``benchmarks/probe_slice_pairing.py`` and the stack tests.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.registration.mi_score import MutualInformationScore

#: Shifts of the MR along the slice axis, in slices (each a whole slice spacing, so resampling is exact).
SHIFTS_SLICES = (-2, -1, 0, 1, 2)
BODY_GREY = 10.0  # CT grey level above which a voxel is body (8-bit atlas CT)
NGF_EPSILON = 5.0  # grey levels per mm: gradients weaker than this count as noise in NGF
BINS = 64


def shift(millimetres: float) -> sitk.TranslationTransform:
    """CT→MR LPS transform that pairs each CT point with the MR point ``millimetres`` further along z (the
    slice axis of the stacks)."""
    return sitk.TranslationTransform(3, (0.0, 0.0, float(millimetres)))


def normalized_gradient_fields(fixed: np.ndarray, moving: np.ndarray, spacing_zyx, mask: np.ndarray) -> float:
    """Mean over ``mask`` of (∇F·∇M)² / ((|∇F|² + ε²)(|∇M|² + ε²)), gradients in grey levels per mm."""
    gf = np.stack(np.gradient(fixed, *spacing_zyx))
    gm = np.stack(np.gradient(moving, *spacing_zyx))
    eps = NGF_EPSILON**2
    cos2 = (gf * gm).sum(0) ** 2 / (((gf**2).sum(0) + eps) * ((gm**2).sum(0) + eps))
    return float(cos2[mask].mean())


def correlation_ratio(fixed: np.ndarray, moving: np.ndarray) -> float:
    """η² of ``moving`` given ``fixed`` binned into ``BINS`` levels: the share of the MR's variance that the
    CT's grey level explains (1 = a function of the CT, 0 = independent)."""
    edges = np.linspace(fixed.min(), fixed.max(), BINS + 1)[1:-1]
    groups = np.digitize(fixed, edges)
    counts = np.bincount(groups, minlength=BINS)
    sums = np.bincount(groups, moving, minlength=BINS)
    squares = np.bincount(groups, moving * moving, minlength=BINS)
    within = (squares - np.divide(sums**2, counts, out=np.zeros(BINS), where=counts > 0)).sum()
    total = ((moving - moving.mean()) ** 2).sum()
    return float(1.0 - within / total) if total > 0 else 0.0


def probe(ct: sitk.Image, mr: sitk.Image) -> dict[str, dict[int, float]]:
    """{measure: {shift (slices): value}} for the MR shifted along z by each of ``SHIFTS_SLICES``."""
    ct_f, mr_f = sitk.Cast(ct, sitk.sitkFloat32), sitk.Cast(mr, sitk.sitkFloat32)
    ct_array = sitk.GetArrayFromImage(ct_f)
    body = ct_array > BODY_GREY
    mask = sitk.GetImageFromArray(body.astype(np.uint8))
    mask.CopyInformation(ct_f)
    score = MutualInformationScore(ct_f, mr_f, mask, BINS, int(body.sum()), seed=0)
    spacing_zyx = ct.GetSpacing()[::-1]
    values = {"MI": {}, "NGF": {}, "CR": {}}
    for slices in SHIFTS_SLICES:
        transform = shift(slices * ct.GetSpacing()[2])
        moved = sitk.GetArrayFromImage(sitk.Resample(mr_f, ct_f, transform, sitk.sitkLinear, 0.0))
        inside = body & (moved > 0)
        values["MI"][slices] = -score(transform)
        values["NGF"][slices] = normalized_gradient_fields(ct_array, moved, spacing_zyx, inside)
        values["CR"][slices] = correlation_ratio(ct_array[inside], moved[inside])
    return values


def best_shift(values: dict[int, float]) -> int:
    """The shift (slices) where a measure is highest."""
    return max(SHIFTS_SLICES, key=lambda s: values[s])
