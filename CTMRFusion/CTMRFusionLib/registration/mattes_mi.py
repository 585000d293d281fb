"""Mattes mutual information with its derivative, on a fixed sample set: the finest pyramid level's metric.

The same estimate as SimpleITK's Mattes metric (Mattes et al. 2003): CT samples drawn once inside the metric
mask, the CT binned by nearest bin (zero-order Parzen window), the MR spread over four bins by a cubic B-spline
window, ``bins`` bins per image with two of padding at each end, samples that map outside the MR or its mask
dropped. The derivative with respect to the six parameters of a rigid correction takes the MR's gradient by central
differences of the MR smoothed by a Gaussian of sigma = its grid's largest voxel side (ITK's metrics differentiate a
Gaussian of that sigma), linearly interpolated at the mapped samples.

Why not SimpleITK's own metric here: over the same voxels the two agree (value to within 1e-5, derivative parallel:
``Testing/registration/test_mattes_mi.py``), but with its random samples the regular-step descent of the 1.5 mm level
walked its 200-iteration cap at 0.16 s an iteration along a valley on the sample pair (2.37 mm landmark TRE at the cap),
and from starts 2–3° and 2–3 mm apart it ended up to 1.1 mm apart. With this one the same descent stopped after 14–25
iterations at 0.11 s each, within 0.2 mm of one pose, 2.2–2.3 mm from the landmarks (docs/registration.md; with the
step also halved when the value rises, 10–17 iterations at about 60 ms in session 22; since session 23 an evaluation
is split over ITK's threads, see :meth:`MattesMutualInformation.value_and_derivative`). Coarser levels and the search,
where SimpleITK's descent converges in well under a second, keep SimpleITK's metric.

Units and frames: points and transforms in LPS mm; the correction is an Euler3D transform (about its own centre)
applied before ``start`` (MR point = start(correction(CT point))), as :mod:`mi_refinement` optimises it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.core.pieces import run_pieces
from CTMRFusionLib.core.point_products import cross_moments, map_by_axis
from CTMRFusionLib.registration.metric_samples import VoxelFrame, ct_samples

#: Bins of padding at each end of both histograms, so the cubic window of an extreme intensity stays inside.
PADDING_BINS = 2
#: Below this share of the samples mapping inside the MR (and its mask), or below :data:`MIN_VALID_SAMPLES`, the
#: images no longer overlap. Low on purpose: an MR whose field of view covers a tenth of the CT body passes the
#: registration's overlap check, and SimpleITK's metric, used at the coarser levels, goes on with any samples.
MIN_VALID_SHARE = 0.01
MIN_VALID_SAMPLES = 100
#: Step (rad) of the finite differences that give the rotation's Jacobian.
ANGLE_STEP = 1e-6
#: An evaluation's samples are split into this many pieces, shared among its threads (:mod:`core.pieces`).
PIECES = 8


class TooFewSamplesError(RuntimeError):
    """Too few of the CT samples map inside the MR (:data:`MIN_VALID_SHARE`): the images stopped overlapping."""


class MattesMutualInformation:
    """−MI (nats, lower is better) of a CT and an MR under a rigid correction, and its derivative.

    ``fixed``/``moving``: float images (LPS, any grids); ``fixed_mask``: where the CT samples are drawn (None =
    everywhere); ``moving_mask``: samples landing outside it (nearest MR voxel) are dropped; ``samples``: how many
    CT samples (all mask voxels when there are fewer); ``strategy``: "random" (drawn with ``seed``), "regular"
    (evenly spaced through the mask's voxels) or "none" (every mask voxel).
    """

    def __init__(
        self,
        fixed: sitk.Image,
        moving: sitk.Image,
        fixed_mask: sitk.Image | None,
        moving_mask: sitk.Image | None,
        bins: int,
        samples: int,
        seed: int,
        strategy: str = "random",
    ) -> None:
        fixed_values = sitk.GetArrayViewFromImage(fixed)
        flat, self.points_by_axis = ct_samples(fixed, fixed_mask, samples, seed, strategy)
        self.bins = int(bins)
        inner = self.bins - 2 * PADDING_BINS
        low, high = float(fixed_values.min()), float(fixed_values.max())
        fixed_bin = np.floor((fixed_values.ravel()[flat] - low) / max((high - low) / inner, 1e-12))
        self.fixed_bins = np.clip(fixed_bin.astype(np.int64), 0, inner - 1) + PADDING_BINS

        moving_values = sitk.GetArrayFromImage(moving).astype(np.float32)
        self.moving_low = float(moving_values.min())
        self.moving_bin_size = max((float(moving_values.max()) - self.moving_low) / inner, 1e-12)
        #: Per MR voxel one row: its value, then the gradient (per mm along the MR's x, y, z axes) of the MR
        #: smoothed by a Gaussian of sigma = its largest voxel side, by central differences; one gather reads all.
        smoothed = sitk.SmoothingRecursiveGaussian(sitk.Cast(moving, sitk.sitkFloat32), max(moving.GetSpacing()))
        table = np.empty((*moving_values.shape, 4), np.float32)
        table[..., 0] = moving_values
        smoothed_values = sitk.GetArrayViewFromImage(smoothed)
        for column, spacing in zip((1, 2, 3), moving.GetSpacing()):  # x, y, z: array axes 2, 1, 0
            _central_differences(smoothed_values, 3 - column, spacing, table[..., column])
        self.table = table.reshape(-1, 4)
        self.moving_shape = moving_values.shape
        self.frame = VoxelFrame.of(moving, moving_mask)
        edges = np.linspace(0, self.sample_count, PIECES + 1).astype(np.int64)
        self._bounds = list(zip(edges[:-1], edges[1:]))
        #: Threads for an evaluation: ITK's (the thread budget a batch case or the user sets, else the cores).
        self.threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()

    @property
    def sample_count(self) -> int:
        return self.points_by_axis.shape[1]

    def value_and_derivative(
        self, start: sitk.Transform, correction: sitk.Euler3DTransform
    ) -> tuple[float, np.ndarray]:
        """(−MI, its derivative with respect to ``correction``'s parameters: 3 angles (rad), 3 shifts (mm)) for
        MR point = ``start``(``correction``(CT point)). Raises :class:`TooFewSamplesError`.

        The samples are worked on in :data:`PIECES` pieces on up to :attr:`threads` threads (:mod:`core.pieces`):
        first each piece's share of the joint histogram, then, with the whole histogram, its share of the
        derivative; the shares are added in piece order."""
        start_matrix = sitk_transform_to_matrix(start)
        correction_matrix = sitk_transform_to_matrix(correction)
        linear, offset = self.frame.index_map(start_matrix @ correction_matrix)  # CT point → continuous MR index
        pieces = run_pieces(lambda k: self._histogram_piece(k, linear, offset), len(self._bounds), self.threads)
        count = sum(piece.count for piece in pieces)
        if count < max(MIN_VALID_SHARE * self.sample_count, min(MIN_VALID_SAMPLES, self.sample_count)):
            raise TooFewSamplesError(f"only {count} of {self.sample_count} CT samples map inside the MR")
        joint = pieces[0].joint
        for piece in pieces[1:]:
            joint += piece.joint
        joint /= count
        fixed_marginal, moving_marginal = joint.sum(axis=1), joint.sum(axis=0)
        occupied = joint > 0
        ratio = np.ones_like(joint)
        ratio[occupied] = joint[occupied] / np.outer(fixed_marginal, moving_marginal)[occupied]
        information = float(np.sum(joint[occupied] * np.log(ratio[occupied])))

        # dMI/dμ = Σ dp(ι,κ)/dμ · log(p(ι,κ) / p_MR(κ)); p_CT does not move and Σ dp = 0.
        log_conditional = np.zeros_like(joint)
        log_conditional[occupied] = np.log((joint / np.maximum(moving_marginal, 1e-300)[None, :])[occupied])
        log_conditional = log_conditional.ravel()
        # ∇MR in LPS (the MR's direction cosines turn its axes' gradient) times d(start)/dx, per sample.
        to_correction = self.frame.direction.T @ start_matrix[:3, :3]
        sums = run_pieces(
            lambda k: pieces[k].derivative_sums(log_conditional, to_correction, self.moving_bin_size),
            len(pieces),
            self.threads,
        )
        derivative = np.empty(6)
        derivative[3:] = np.sum([shift for shift, _ in sums], axis=0)
        # d/dθ Σ weighted · R(θ)(x − c) = Σ_ij dR/dθ[i, j] · (Σ weighted_i (x − c)_j)
        moments = np.sum([moment for _, moment in sums], axis=0) - np.outer(derivative[3:], correction.GetCenter())
        for axis in range(3):
            turned = np.array(correction.GetParameters(), dtype=float)
            turned[axis] += ANGLE_STEP
            moved = sitk.Euler3DTransform(correction)
            moved.SetParameters(tuple(turned))
            d_rotation = sitk_transform_to_matrix(moved)[:3, :3] - correction_matrix[:3, :3]
            derivative[axis] = np.sum(d_rotation * moments) / ANGLE_STEP
        return -information, -derivative / count

    def _histogram_piece(self, piece: int, linear: np.ndarray, offset: np.ndarray) -> _Piece:
        """Piece ``piece`` of the samples mapped by ``linear`` and ``offset`` (CT LPS → MR voxel index): the samples
        inside the MR and its mask, their cubic B-spline Parzen weights over bins first .. first + 3 and the
        weights' slopes, and their (unnormalised) joint histogram."""
        begin, end = self._bounds[piece]
        points = self.points_by_axis[:, begin:end]
        valid, sampled = self._sample(map_by_axis(linear, points, offset))
        position = (sampled[:, 0].astype(np.float64) - self.moving_low) / self.moving_bin_size + PADDING_BINS
        position = np.clip(position, PADDING_BINS, self.bins - PADDING_BINS - 1e-6)
        first = np.floor(position)
        f = position - first
        f2, f3 = f * f, f * f * f
        weights = np.stack([(1 - f) ** 3, 3 * f3 - 6 * f2 + 4, -3 * f3 + 3 * f2 + 3 * f + 1, f3], axis=1) / 6
        slopes = np.stack([-((1 - f) ** 2) / 2, 1.5 * f2 - 2 * f, -1.5 * f2 + f + 0.5, f2 / 2], axis=1)
        everywhere = valid is None  # the usual case: no sample to leave out, no copies
        fixed_bins = self.fixed_bins[begin:end] if everywhere else self.fixed_bins[begin:end][valid]
        cells = fixed_bins[:, None] * self.bins + (first.astype(np.int64)[:, None] - 1 + np.arange(4))
        joint = np.bincount(cells.ravel(), weights.ravel(), self.bins * self.bins).reshape(self.bins, self.bins)
        return _Piece(len(sampled), joint, slopes, cells, sampled, points if everywhere else points[:, valid])

    def _sample(self, index: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(which points, at continuous MR voxel ``index`` (rows x, y, z), fall inside the MR and its mask (None: all
        of them), their MR value and gradient by trilinear interpolation (a row of 4 per point inside))."""
        upper = self.frame.upper_index[:, None]
        # Inside the MR's buffer as ITK counts it: within half a voxel of its outer voxel centres.
        valid = self.frame.in_buffer(index, 0.5)
        if not valid.all():
            valid[valid] = self.frame.in_mask(index[:, valid].T)
            index = index[:, valid]
        elif self.frame.mask is not None:
            valid = self.frame.in_mask(index.T)
            index = index[:, valid]
        else:
            valid = None
        inside = np.clip(index, 0.0, upper)  # the border's half voxel takes the edge's value
        corner_at = np.minimum(np.floor(inside), np.maximum(upper - 1, 0))
        fx, fy, fz = (inside - corner_at).astype(np.float32)
        corner = corner_at.astype(np.int64)
        depth, height, width = self.moving_shape
        flat = (corner[2] * height + corner[1]) * width + corner[0]
        # Trilinear: lerp along x at the four (y, z) corners, then along y, then along z (float32, rows of 4).
        plane, table = height * width, self.table
        fx, fy, fz = fx[:, None], fy[:, None], fz[:, None]
        along_x = []
        for offset in (0, width, plane, plane + width):
            low = table.take(flat + offset, axis=0)
            high = table.take(flat + (offset + 1), axis=0)
            high -= low
            high *= fx
            low += high
            along_x.append(low)
        for low, high in ((along_x[0], along_x[1]), (along_x[2], along_x[3])):
            high -= low
            high *= fy
            low += high
        result, high = along_x[0], along_x[2]
        high -= result
        high *= fz
        result += high
        return valid, result


@dataclass
class _Piece:
    """One piece of the samples at one pose: how many fall inside the MR, their joint histogram (unnormalised),
    Parzen weight slopes and histogram cells (4 per sample), MR value and gradient (rows of 4), CT points (3 × n)."""

    count: int
    joint: np.ndarray
    slopes: np.ndarray
    cells: np.ndarray
    sampled: np.ndarray
    points_by_axis: np.ndarray

    def derivative_sums(self, log_conditional: np.ndarray, to_correction: np.ndarray, bin_size: float):
        """(Σ weighted, Σ weighted ⊗ point) over the piece, where weighted = d(−MI share)/d(MR value) × ∇MR turned
        into the correction's frame by ``to_correction``; ``log_conditional``: log p(CT bin, MR bin) / p(MR bin),
        flat."""
        per_intensity = np.sum(self.slopes * log_conditional[self.cells], axis=1) / bin_size
        gradient = self.sampled[:, 1:4].astype(np.float64)
        weighted = np.einsum("nj,jk->kn", gradient, to_correction)
        weighted *= per_intensity
        return weighted.sum(axis=1), cross_moments(weighted, self.points_by_axis)


def _central_differences(values: np.ndarray, axis: int, spacing: float, out: np.ndarray) -> None:
    """Derivative (per mm) of ``values`` along array ``axis`` into ``out``: central differences inside, one-sided
    at the two ends (as ``np.gradient``), written in place without temporaries the size of the image."""

    def part(start, stop):
        index = [slice(None)] * values.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    if values.shape[axis] < 2:
        out[...] = 0.0
        return
    np.subtract(values[part(2, None)], values[part(None, -2)], out=out[part(1, -1)])
    out[part(1, -1)] *= 0.5 / spacing
    np.subtract(values[part(1, 2)], values[part(0, 1)], out=out[part(0, 1)])
    np.subtract(values[part(-1, None)], values[part(-2, -1)], out=out[part(-1, None)])
    out[part(0, 1)] /= spacing
    out[part(-1, None)] /= spacing
