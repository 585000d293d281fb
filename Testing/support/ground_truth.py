"""Known rigid moves for ground-truth tests and benchmarks: move an image by editing its header only."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def rigid_matrix(angles_deg, translation_mm, center_lps=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 LPS matrix of a rotation (degrees about x, y, z, applied in ITK's Euler3D order) about a centre."""
    euler = sitk.Euler3DTransform()
    euler.SetCenter([float(c) for c in center_lps])
    euler.SetRotation(*np.deg2rad(angles_deg))
    euler.SetTranslation([float(t) for t in translation_mm])
    matrix = np.eye(4)
    matrix[:3, :3] = np.array(euler.GetMatrix()).reshape(3, 3)
    matrix[:3, 3] = np.array(euler.TransformPoint((0.0, 0.0, 0.0)))
    return matrix


def move_header(image: sitk.Image, matrix_lps: np.ndarray) -> sitk.Image:
    """The same voxels, physically moved by a rigid 4x4 LPS matrix (origin and direction edited, no resampling)."""
    moved = sitk.Image(image)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    moved.SetDirection((matrix_lps[:3, :3] @ direction).ravel().tolist())
    moved.SetOrigin((matrix_lps[:3, :3] @ np.array(image.GetOrigin()) + matrix_lps[:3, 3]).tolist())
    return moved


def largest_disagreement_mm(first: sitk.Transform, second: sitk.Transform, image: sitk.Image) -> float:
    """Largest distance (mm) between where two transforms send the corners of ``image``'s physical extent
    (LPS): for a rigid transform, the largest disagreement anywhere in the image."""
    size = np.array(image.GetSize()) - 1
    corners = [
        image.TransformContinuousIndexToPhysicalPoint((size * np.array(c)).tolist()) for c in np.ndindex(2, 2, 2)
    ]
    return max(float(np.linalg.norm(np.subtract(first.TransformPoint(p), second.TransformPoint(p)))) for p in corners)
