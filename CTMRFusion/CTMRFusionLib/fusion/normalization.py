"""Intensity normalisation between image units and the fusion scale (0–255 grey levels, as the model saw).

The fusion rules and the U-Net work on 8-bit-like grey levels: 0 = background, 255 = brightest tissue. The
U-Net was trained on Harvard Whole Brain Atlas slices, whose CT is shown in a brain window (brain ≈ 115, bone
saturated at 255, air 0) and whose MR-T2 fills 0…~240. Volumes in physical units are mapped to that scale:

- CT (HU): window [``ct_low``, ``ct_high``] = [−100, 200] HU (level 50, width 300) mapped linearly to 0…255
  and clipped: air and fat → 0, CSF ≈ 90, brain (35 HU) ≈ 115 — the brain grey of the training CT — muscle
  ≈ 135, bone → 255. A narrower brain window (0…80 HU) would match the training CT's grey/white contrast but
  saturates muscle and other non-brain soft tissue.
- MR (arbitrary scanner units): 0 → 0 and the ``mr_percentile`` (99.5th) percentile of the voxels inside the
  MR's body mask → 240, clipped to 0…255; so the result does not depend on the scanner's scale.
- 8-bit inputs (2D PNG/TIFF, uint8 volumes) are already on the scale and are used as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NormalizationOptions:
    ct_low: float = -100.0  # HU mapped to 0
    ct_high: float = 200.0  # HU mapped to 255
    mr_percentile: float = 99.5  # percentile of body voxels mapped to mr_level
    mr_level: float = 240.0


def normalize_ct(hu: np.ndarray, options: NormalizationOptions = NormalizationOptions()) -> np.ndarray:
    """CT in HU → fusion grey levels (float32, 0…255)."""
    scaled = (np.asarray(hu, np.float32) - options.ct_low) * (255.0 / (options.ct_high - options.ct_low))
    return np.clip(scaled, 0.0, 255.0)


def normalize_mr(
    mr: np.ndarray, body_reference: float, options: NormalizationOptions = NormalizationOptions()
) -> np.ndarray:
    """MR in scanner units → fusion grey levels (float32, 0…255).

    ``body_reference``: the MR value at ``options.mr_percentile`` of the body voxels (see
    :func:`body_mask.body_percentiles`); it is mapped to ``options.mr_level``, the minimum (or 0) to 0.
    """
    mr = np.asarray(mr, np.float32)
    low = min(0.0, float(mr.min()))
    if not np.isfinite(body_reference) or body_reference <= low:
        raise ValueError("MR has no contrast inside the body; cannot normalise it for fusion.")
    return np.clip((mr - low) * (options.mr_level / (body_reference - low)), 0.0, 255.0)


def is_8bit(array: np.ndarray) -> bool:
    """True for data already on the fusion scale: uint8, or whole numbers within 0–255 in a wider integer type (a
    16-bit PNG of an 8-bit picture fuses exactly as the 8-bit file does)."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return True
    return array.dtype.kind in "ui" and array.size > 0 and int(array.min()) >= 0 and int(array.max()) <= 255
