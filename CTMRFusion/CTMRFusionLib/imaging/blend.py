"""The CT/MR colour blend shared by Slicer's views and the headless outputs (numpy and SimpleITK only).

CT is purple and MR green, each normalised to [0, 1] by a robust window (percentiles inside the body mask, no
HU assumption), alpha-blended with the MR's opacity. Colours are RGB in [0, 1].
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.imaging.body_mask import body_percentiles

CT_COLOR = (0.75, 0.25, 0.85)
MR_COLOR = (0.2, 0.9, 0.2)


def robust_window(image: sitk.Image, low_percentile=0.5, high_percentile=99.5) -> tuple[float, float]:
    """Intensity window (low, high): percentiles of the voxels inside the image's body mask.

    The body mask keeps field-of-view padding (e.g. -2048 HU) and the air around the subject out, so the
    window works for CT in HU or 8-bit and for MR at any scale.
    """
    low, high = body_percentiles(image, (low_percentile, high_percentile))
    return low, max(high, low + 1e-6)


def normalised_array(image: sitk.Image, window: tuple[float, float] | None = None) -> np.ndarray:
    """``image`` as a float32 array (z, y, x) mapped to [0, 1] by ``window`` (default: :func:`robust_window`)."""
    low, high = window or robust_window(image)
    return np.clip((sitk.GetArrayViewFromImage(image).astype(np.float32) - low) / (high - low), 0, 1)


def rgb_blend_array(ct: np.ndarray, mr: np.ndarray, opacity: float) -> np.ndarray:
    """uint8 RGB (..., 3) alpha blend of normalised CT (purple) and MR (green) arrays in [0, 1]."""
    blended = (1.0 - opacity) * ct[..., None] * np.array(CT_COLOR) + opacity * mr[..., None] * np.array(MR_COLOR)
    return np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)
