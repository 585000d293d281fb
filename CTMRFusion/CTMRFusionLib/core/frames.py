"""Conversions between Slicer's RAS frame and ITK's LPS frame — the only place that knows about both.

RAS (right, anterior, superior) and LPS (left, posterior, superior) differ by a sign flip of the first two
axes. Points, 4x4 matrices and SimpleITK rigid/affine transforms are converted here and nowhere else.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Homogeneous 4x4 matrix that maps LPS coordinates to RAS coordinates (it is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def lps_to_ras_points(points_lps) -> np.ndarray:
    """Convert an (N, 3) array of points from LPS mm to RAS mm."""
    points = np.array(points_lps, dtype=float).reshape(-1, 3)
    return points * np.array([-1.0, -1.0, 1.0])


ras_to_lps_points = lps_to_ras_points  # the flip is an involution


def matrix_lps_to_ras(matrix_lps: np.ndarray) -> np.ndarray:
    """Express a 4x4 homogeneous transform given in LPS coordinates in RAS coordinates."""
    return LPS_TO_RAS @ np.asarray(matrix_lps, dtype=float) @ LPS_TO_RAS


matrix_ras_to_lps = matrix_lps_to_ras  # the conjugation by an involution is its own inverse


def ijk_to_lps_from_ijk_to_ras(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Voxel-index→LPS matrix from a voxel-index→RAS matrix (only the output frame changes)."""
    return LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)


ijk_to_ras_from_ijk_to_lps = ijk_to_lps_from_ijk_to_ras


def sitk_transform_to_matrix(transform: sitk.Transform) -> np.ndarray:
    """4x4 homogeneous matrix (LPS) of a SimpleITK linear transform (Euler, Versor, Similarity, Affine…).

    Composite transforms made of linear parts are flattened. Raises ``ValueError`` for non-linear
    transforms (B-spline, displacement field), which no 4x4 matrix can represent.
    """
    if isinstance(transform, sitk.CompositeTransform) or transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        matrix = np.eye(4)
        # A composite applies its last-added transform first.
        for index in range(composite.GetNumberOfTransforms()):
            matrix = matrix @ sitk_transform_to_matrix(composite.GetNthTransform(index))
        return matrix
    if not transform.IsLinear():
        raise ValueError(f"{transform.GetName()} is not a linear transform; a 4x4 matrix cannot represent it.")
    dimension = transform.GetDimension()
    if dimension != 3:
        raise ValueError(f"Expected a 3D transform, got a {dimension}D {transform.GetName()}.")
    # Probe the transform: works for every linear transform type without knowing its parameterisation.
    origin = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    matrix = np.eye(4)
    for axis in range(3):
        unit = [0.0, 0.0, 0.0]
        unit[axis] = 1.0
        matrix[:3, axis] = np.array(transform.TransformPoint(unit)) - origin
    matrix[:3, 3] = origin
    return matrix


def matrix_to_sitk_affine(matrix_lps: np.ndarray) -> sitk.AffineTransform:
    """SimpleITK affine transform (LPS) with the given 4x4 homogeneous matrix, centre at the origin."""
    matrix_lps = np.asarray(matrix_lps, dtype=float)
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(matrix_lps[:3, :3].ravel().tolist())
    affine.SetTranslation(matrix_lps[:3, 3].tolist())
    return affine


def matrix_to_sitk_euler(matrix_lps: np.ndarray, center_lps=(0.0, 0.0, 0.0)) -> sitk.Euler3DTransform:
    """SimpleITK Euler3D transform (LPS) for a rigid 4x4 matrix, parameterised about ``center_lps`` (mm).

    Raises ``ValueError`` if the matrix is not a proper rotation plus translation (tolerance 1e-4).
    """
    matrix_lps = np.asarray(matrix_lps, dtype=float)
    rotation = matrix_lps[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4) or np.linalg.det(rotation) < 0:
        raise ValueError("The matrix is not rigid (rotation + translation); use an affine transform instead.")
    center = np.asarray(center_lps, dtype=float)
    euler = sitk.Euler3DTransform()
    euler.SetCenter(center.tolist())
    euler.SetMatrix(rotation.ravel().tolist(), 1e-4)
    # Euler: x' = R (x - c) + c + t, and the matrix says x' = R x + b, so t = b + R c - c.
    euler.SetTranslation((matrix_lps[:3, 3] + rotation @ center - center).tolist())
    return euler
