"""The seed's intra-modality registration loss (torch): CT is compared only with CT, MR only with MR.

Training pair: a CT and an MR already aligned on one grid, and a known rigid move T (fixed → moving points,
ITK convention) applied to both, ``ct_moved(p) = CT(T p)`` and ``mr_moved(p) = MR(T p)``. A network looks at
(CT, MR moved) and predicts P, the transform that should equal T⁻¹. Then

- MR term: the moved MR warped back by P, ``mr_moved(P p)``, is compared with the MR (MR ↔ MR);
- CT term: the CT warped by P⁻¹, ``CT(P⁻¹ p)``, is compared with the moved CT (CT ↔ CT);

each with 1 − NCC over the voxels where both images have data. No cross-modal similarity is ever needed,
which is the point: within one modality NCC is a reliable, smooth similarity. The loss is 0 for P = T⁻¹
(up to interpolation) and grows as P departs from it.
"""

from __future__ import annotations

import torch

from CTMRFusionLib.deep_registration.warp import Grid, euler_matrix, inverse_rigid, overlap_mask, warp_with_matrix


def masked_ncc(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Normalised cross-correlation of x and y over the voxels where ``mask`` > 0 (in [−1, 1])."""
    weight = mask / mask.sum().clamp(min=1.0)
    mean_x, mean_y = (weight * x).sum(), (weight * y).sum()
    dx, dy = x - mean_x, y - mean_y
    covariance = (weight * dx * dy).sum()
    return covariance / torch.sqrt((weight * dx * dx).sum() * (weight * dy * dy).sum() + 1e-12)


def intra_modality_loss(
    ct: torch.Tensor,
    mr: torch.Tensor,
    ct_moved: torch.Tensor,
    mr_moved: torch.Tensor,
    grid: Grid,
    angles: torch.Tensor,
    translation: torch.Tensor,
    center,
) -> tuple:
    """(total, mr_term, ct_term) for the predicted P = Euler3D(angles rad, translation mm, center mm, LPS).

    All four volumes are (D, H, W) tensors on ``grid``; ct/mr aligned, ct_moved/mr_moved moved by T.
    """
    rotation = euler_matrix(angles.to(ct.dtype))
    translation = translation.to(ct.dtype)

    mr_back = warp_with_matrix(mr_moved, grid, grid, rotation, translation, center)
    mr_term = 1.0 - masked_ncc(mr_back, mr, overlap_mask(grid, grid, rotation, translation, center, ct.dtype))

    inverse_rotation, inverse_translation = inverse_rigid(rotation, translation)
    ct_forward = warp_with_matrix(ct, grid, grid, inverse_rotation, inverse_translation, center)
    ct_term = 1.0 - masked_ncc(
        ct_forward, ct_moved, overlap_mask(grid, grid, inverse_rotation, inverse_translation, center, ct.dtype)
    )
    return mr_term + ct_term, mr_term, ct_term
