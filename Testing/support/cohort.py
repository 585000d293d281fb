"""Small real cohorts for the batch tests: shared Harvard stacks written as files, with a manifest.

A moved stack (a known rigid header edit) gets landmark files (CT body points and where the known move sends
them), so its TRE after registration is the absolute error against the truth. A corrupt file makes a
case that must fail alone; :func:`add_noise_case` one that registers but must be marked for review.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from support.atlas_stacks import atlas_stacks, body_points, moves
from support.ground_truth import largest_disagreement_mm, move_header

#: (case id, Harvard case, move number): move 0 is the identity.
COHORT = (("h2", "2", 0), ("h20", "20", 0), ("h28m", "28", 1))
LANDMARK_CASE = "h28m"
CORRUPT_CASE = "corrupt"


def _write_landmarks(points: np.ndarray, path: Path) -> None:
    lines = ["label,x,y,z"] + [f"P{i},{x:.4f},{y:.4f},{z:.4f}" for i, (x, y, z) in enumerate(points)]
    path.write_text("\n".join(lines) + "\n")


def write_cohort(folder: Path, with_corrupt: bool = True, cohort=COHORT, root: Path | None = None) -> Path:
    """Write the cohort's images, landmarks and ``manifest.csv`` (relative paths) under ``folder``; return the
    manifest's path. ``cohort``: (case id, Harvard case, move number) rows; ``root``: the Harvard data (default:
    ../shared/data/harvard_ctmri, the test skipped if absent)."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    stacks = atlas_stacks(root)
    rows = ["id,ct,mr,ct_landmarks,mr_landmarks"]
    for case_id, harvard, move_number in cohort:
        ct, mr = stacks[harvard]
        points = body_points(ct)
        move = moves(harvard, points, move_number)[move_number]
        sitk.WriteImage(ct, str(data / f"{case_id}_ct.nrrd"))
        sitk.WriteImage(move_header(mr, move), str(data / f"{case_id}_mr.nrrd"))
        landmarks = ","
        if move_number > 0:
            chosen = points[:: max(1, len(points) // 12)][:12]
            moved = (np.c_[chosen, np.ones(len(chosen))] @ move.T)[:, :3]
            _write_landmarks(chosen, data / f"{case_id}_ct.csv")
            _write_landmarks(moved, data / f"{case_id}_mr.csv")
            landmarks = f"data/{case_id}_ct.csv,data/{case_id}_mr.csv"
        rows.append(f"{case_id},data/{case_id}_ct.nrrd,data/{case_id}_mr.nrrd,{landmarks}")
    if with_corrupt:
        (data / "corrupt_ct.nrrd").write_bytes(b"NRRD0004\nthis is not a header\n")
        rows.append(f"{CORRUPT_CASE},data/corrupt_ct.nrrd,data/h2_mr.nrrd,,")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


#: The case whose MR is noise: it registers, and its confidence verdict is low (status ``review``).
NOISE_CASE = "noise"


def add_noise_case(manifest: Path) -> None:
    """Append :data:`NOISE_CASE` to a :func:`write_cohort` manifest: h2's CT with an MR of uniform noise on h2's
    MR grid (seeded)."""
    data = manifest.parent / "data"
    mr = sitk.ReadImage(str(data / "h2_mr.nrrd"))
    noise = np.random.default_rng(0).uniform(0, 255, sitk.GetArrayViewFromImage(mr).shape).astype(np.float32)
    noise_image = sitk.GetImageFromArray(noise)
    noise_image.CopyInformation(mr)
    sitk.WriteImage(noise_image, str(data / "noise_mr.nrrd"))
    with manifest.open("a") as handle:
        handle.write(f"{NOISE_CASE},data/h2_ct.nrrd,data/noise_mr.nrrd,,\n")


#: With more than one ITK thread, Mattes MI's threaded accumulation makes the last bits vary run to run
#: (measured up to 7e-6 mm or rad; docs/registration.md, Reproducibility). An optimizer that stops on a
#: convergence window can turn that into a different last iteration: the answers then differ by a share of a
#: step (gradient descent's steps are a quarter voxel, 0.375 mm at 1.5 mm). The tolerance is the largest
#: disagreement anywhere in the CT (mm): far below the 1.5 mm voxel, far above bit noise, and far below what
#: different options or inputs give (0.2 mm and more). One thread is bit-identical.
MULTITHREAD_TOLERANCE_MM = 0.05


def assert_same_result(actual: sitk.Transform, expected: sitk.Transform, report: dict, ct: sitk.Image) -> None:
    """A batch case's transform equals a direct run's: parameter for parameter on one ITK thread, else within
    :data:`MULTITHREAD_TOLERANCE_MM` anywhere in the CT."""
    if report["itk_threads"] == 1:
        assert tuple(actual.GetParameters()) == tuple(expected.GetParameters())
    else:
        assert largest_disagreement_mm(actual, expected, ct) <= MULTITHREAD_TOLERANCE_MM
