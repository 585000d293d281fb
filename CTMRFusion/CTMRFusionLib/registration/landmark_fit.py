"""The least-squares rigid transform that maps one point set onto another (ground truth from landmarks)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import LandmarkError


def fit_rigid_transform(fixed_points_lps, moving_points_lps) -> sitk.Euler3DTransform:
    """Least-squares rigid transform (Kabsch/Horn) mapping fixed points onto moving points, LPS.

    Centred on the fixed points' centroid. Needs at least 3 non-collinear pairs.
    """
    fixed_points = np.asarray(fixed_points_lps, dtype=float).reshape(-1, 3)
    moving_points = np.asarray(moving_points_lps, dtype=float).reshape(-1, 3)
    if len(fixed_points) != len(moving_points) or len(fixed_points) < 3:
        raise LandmarkError("A rigid fit needs at least 3 point pairs of equal count.")
    fixed_center, moving_center = fixed_points.mean(axis=0), moving_points.mean(axis=0)
    covariance = (fixed_points - fixed_center).T @ (moving_points - moving_center)
    u, singular, vt = np.linalg.svd(covariance)
    if singular[1] < 1e-9 * max(singular[0], 1e-12):
        raise LandmarkError("The landmarks are collinear; a rigid fit is undefined.")
    correction = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    rotation = vt.T @ correction @ u.T
    transform = sitk.Euler3DTransform()
    transform.SetCenter(fixed_center.tolist())
    transform.SetMatrix(rotation.ravel().tolist(), 1e-6)
    transform.SetTranslation((moving_center - fixed_center).tolist())
    return transform
