"""Starts that need no search: mask centroids (``moments``), image centres (``geometry``), ``identity``.

Each is an Euler3D transform about the CT body centroid with no rotation: the images' own headers decide the
orientation, so these suit pairs whose frames already agree within the MI refinement's capture range.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def _translation(pair, translation_mm) -> sitk.Euler3DTransform:
    euler = sitk.Euler3DTransform()
    euler.SetCenter(pair.fixed_center.tolist())
    euler.SetTranslation(np.asarray(translation_mm, dtype=float).tolist())
    return euler


def _image_center(image: sitk.Image) -> np.ndarray:
    size = np.array(image.GetSize(), dtype=float)
    return np.array(image.TransformContinuousIndexToPhysicalPoint(((size - 1) / 2).tolist()))


def moments(pair, options=None, start=None, stage=None) -> sitk.Euler3DTransform:
    """The MR body centroid onto the CT body centroid (LPS mm)."""
    return _translation(pair, pair.moving_center - pair.fixed_center)


def geometry(pair, options=None, start=None, stage=None) -> sitk.Euler3DTransform:
    """The MR image centre onto the CT image centre (LPS mm)."""
    return _translation(pair, _image_center(pair.moving) - _image_center(pair.fixed))


def identity(pair, options=None, start=None, stage=None) -> sitk.Euler3DTransform:
    """No move: the headers' own placement."""
    return _translation(pair, np.zeros(3))
