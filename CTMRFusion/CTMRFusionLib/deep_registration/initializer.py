"""The deep initializer: the registration network's correction of a start transform, applied before MI.

From a start S (CT LPS points → MR LPS points), the CT is resampled onto the network grid (the model's,
40³ × 8 mm, centred on the CT body centroid) and the MR onto the same grid through S; the network predicts P (about the
grid centre), and the start becomes S ∘ P (P first). This is repeated ``passes`` times: a second pass looks
at the nearly aligned pair, as most training moves did, and halves the remaining error.
:func:`deep_initial_transforms` does the same from several starts (the start turned about the grid centre).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.frames import matrix_to_sitk_euler, sitk_transform_to_matrix
from CTMRFusionLib.deep_registration.grid import (
    NetworkGrid,
    anti_aliased,
    feature_channels,
    resample_anti_aliased,
    resample_to_grid,
    unit_intensities,
)
from CTMRFusionLib.deep_registration.model import RegistrationModel


def euler_matrix_about(parameters, center) -> np.ndarray:
    """4×4 LPS matrix of Euler3D ``parameters`` (angles rad, translation mm) about ``center`` (mm)."""
    transform = sitk.Euler3DTransform(
        np.asarray(center, float).tolist(), *[float(v) for v in parameters[:3]], [float(v) for v in parameters[3:]]
    )
    return sitk_transform_to_matrix(transform)


def deep_initial_transform(
    ct: sitk.Image, mr: sitk.Image, start: sitk.Transform, center, model: RegistrationModel, passes: int = 2
) -> tuple[sitk.Euler3DTransform, dict]:
    """(Euler3D start corrected by the network, about ``center``; timings) for a CT (HU or 8-bit) and MR.

    ``start``: linear CT→MR LPS transform; ``center``: the CT body centroid (LPS mm), the grid centre.
    """
    corrected, timings = deep_initial_transforms(ct, mr, start, center, model, passes, [np.eye(3)])
    return corrected[0], timings


def deep_initial_transforms(
    ct: sitk.Image,
    mr: sitk.Image,
    start: sitk.Transform,
    center,
    model: RegistrationModel,
    passes: int,
    turns: list[np.ndarray],
    on_answer: Callable[[int, int], None] | None = None,
) -> tuple[list[sitk.Euler3DTransform], dict]:
    """The network's corrections of ``start`` ∘ T for each 3×3 rotation T in ``turns`` (LPS, about
    ``center``, applied to CT points first); one Euler3D transform about ``center`` per turn, and timings.
    ``on_answer(done, total)`` is called after each turn (progress; it may raise to cancel)."""
    started = time.perf_counter()
    grid_size = int(model.metadata.get("grid_size", 40))
    spacing = float(model.metadata.get("spacing_mm", 8.0))
    reference = NetworkGrid(tuple(np.asarray(center, float)), grid_size, spacing).image()
    ct_channels = feature_channels(resample_to_grid(unit_intensities(ct, "ct"), reference), model.features)
    mr_smooth = anti_aliased(unit_intensities(mr, "mr"), spacing)  # once: every pass resamples it
    center = np.asarray(center, float)
    start_matrix = sitk_transform_to_matrix(start)
    network_seconds = 0.0
    corrected = []
    for turn in turns:
        turn_about_center = np.eye(4)
        turn_about_center[:3, :3] = turn
        turn_about_center[:3, 3] = center - turn @ center
        matrix = start_matrix @ turn_about_center
        for _ in range(passes):
            current = matrix_to_sitk_euler(matrix, center)
            mr_channels = feature_channels(resample_anti_aliased(mr_smooth, reference, current), model.features)
            tick = time.perf_counter()
            parameters = model.predict(np.concatenate([ct_channels, mr_channels]))
            network_seconds += time.perf_counter() - tick
            matrix = matrix @ euler_matrix_about(parameters, center)
        corrected.append(matrix_to_sitk_euler(matrix, center))
        if on_answer is not None:
            on_answer(len(corrected), len(turns))
    timings = {"network": network_seconds, "total": time.perf_counter() - started}
    return corrected, timings
