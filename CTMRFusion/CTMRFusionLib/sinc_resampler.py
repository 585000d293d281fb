"""Fast Hamming-windowed sinc resampling that reproduces SimpleITK's ``sitkHammingWindowedSinc``.

SimpleITK's windowed-sinc interpolator has a radius of 5 voxels: 10 × 10 × 10 = 1000 neighbours per output
voxel, each weight computed with trigonometric calls in scalar code (about 100 s for 6 M voxels on 2
cores). The kernel is separable: here each output voxel gets 3 × 10 one-dimensional weights, its
10 × 10 × 10 neighbourhood is fetched as one block through a strided window view of an edge-padded copy of
the volume, and the block is contracted axis by axis. Work is done in chunks of output voxels (memory stays
bounded: about 5 kB per voxel of a chunk) spread over threads; numpy releases the GIL in the heavy loops.

Definition (measured on SimpleITK 2.5 with a unit impulse, and matching ITK's
``WindowedSincInterpolateImageFunction<.., 5, HammingWindowFunction<5>>`` with its zero-flux Neumann
boundary): for a continuous index c with integer part b on an axis, the neighbours are b-4 … b+5, at
distances x = c - position, weighted by sinc(x) · (0.54 + 0.46 cos(π x / 5)); the weights are not
normalised. Neighbours outside the image take the nearest edge voxel's value. Output points whose
continuous index falls outside [-0.5, size - 0.5) get the default value.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import SimpleITK as sitk
from numpy.lib.stride_tricks import as_strided

from .frames import sitk_transform_to_matrix
from .progress import CancelToken, ProgressCallback, ProgressEvent, report

RADIUS = 5
WINDOW = 2 * RADIUS
_PAD = RADIUS + 1


def _index_to_physical(image: sitk.Image) -> np.ndarray:
    """4x4 matrix mapping (i, j, k, 1) voxel indices to LPS mm."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    return matrix


def _axis_weights(fraction: np.ndarray) -> np.ndarray:
    """(N, 10) windowed-sinc weights for neighbours b-4 … b+5 given the fractional parts ``fraction``."""
    x = fraction[:, None] + (RADIUS - 1 - np.arange(WINDOW, dtype=np.float64))
    window = 0.54 + 0.46 * np.cos(x * (math.pi / RADIUS))
    return (np.sinc(x) * window).astype(np.float32)


def resample_windowed_sinc(
    moving: sitk.Image,
    reference: sitk.Image,
    transform: sitk.Transform,
    default_value: float = 0.0,
    output_pixel_type: int | None = None,
    chunk_voxels: int = 1 << 13,
    threads: int = 2,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> sitk.Image:
    """Resample ``moving`` onto ``reference``'s grid through a linear ``transform`` (reference → moving, LPS).

    Same call shape and values as ``sitk.Resample(moving, reference, transform,
    sitk.sitkHammingWindowedSinc, default_value, output_pixel_type)`` for 3D scalar images: float output
    matches to float32 rounding; integer output is clamped to the type's range and rounded to nearest
    (ITK truncates), so integer results may differ by one unit.
    """
    if moving.GetDimension() != 3 or moving.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("Windowed-sinc resampling needs a 3D scalar image.")
    output_pixel_type = moving.GetPixelID() if output_pixel_type is None else output_pixel_type

    volume = np.pad(sitk.GetArrayViewFromImage(moving).astype(np.float32), _PAD, mode="edge")
    # blocks[z, y, x] is the 10x10x10 neighbourhood starting at (z, y, x), without copying.
    blocks = as_strided(
        volume,
        shape=tuple(n - WINDOW + 1 for n in volume.shape) + (WINDOW,) * 3,
        strides=volume.strides * 2,
    )

    # Output voxel index -> moving continuous index, as one affine map.
    to_moving = np.linalg.inv(_index_to_physical(moving)) @ sitk_transform_to_matrix(transform) @ _index_to_physical(reference)
    size = np.array(reference.GetSize())
    moving_size = np.array(moving.GetSize(), dtype=np.float64)
    total = int(np.prod(size))
    output = np.empty(total, dtype=np.float32)

    def run_chunk(start: int) -> None:
        if cancel is not None and cancel.cancelled:
            return
        stop = min(start + chunk_voxels, total)
        linear = np.arange(start, stop, dtype=np.int64)
        k, remainder = np.divmod(linear, size[0] * size[1])
        j, i = np.divmod(remainder, size[0])
        continuous = (to_moving[:3, :3] @ np.stack([i, j, k]).astype(np.float64)).T + to_moving[:3, 3]
        inside = np.all((continuous >= -0.5) & (continuous < moving_size - 0.5), axis=1)
        values = np.full(stop - start, default_value, dtype=np.float32)
        points = continuous[inside]
        if len(points):
            base = np.floor(points)
            wx, wy, wz = (_axis_weights(points[:, axis] - base[:, axis]) for axis in range(3))
            first = base.astype(np.int64) + (_PAD - RADIUS + 1)  # first neighbour, in padded coordinates
            neighbourhood = blocks[first[:, 2], first[:, 1], first[:, 0]]  # (n, z, y, x)
            rows = np.matmul(neighbourhood, wx[:, None, :, None])[..., 0]  # (n, z, y)
            planes = np.matmul(rows, wy[:, :, None])[..., 0]  # (n, z)
            values[inside] = np.einsum("nz,nz->n", planes, wz)
        output[start:stop] = values

    starts = range(0, total, chunk_voxels)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for done, _ in enumerate(pool.map(run_chunk, starts), start=1):
            report(progress, ProgressEvent("resample", done / len(starts), "Windowed-sinc resampling",
                                           iteration=done))
    if cancel is not None:
        cancel.raise_if_cancelled()

    result = output.reshape(size[::-1])
    if output_pixel_type not in (sitk.sitkFloat32, sitk.sitkFloat64):
        dtype = sitk.GetArrayViewFromImage(sitk.Image([1, 1, 1], output_pixel_type)).dtype
        limits = np.iinfo(dtype)
        result = np.clip(np.rint(result), limits.min, limits.max).astype(dtype)
    image = sitk.GetImageFromArray(result)
    image.CopyInformation(reference)
    return sitk.Cast(image, output_pixel_type) if image.GetPixelID() != output_pixel_type else image
