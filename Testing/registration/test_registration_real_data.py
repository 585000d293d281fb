"""Rigid registration on real CT/MR: absolute landmark accuracy and recovery of known rigid moves.

Ground truth comes from outside the code under test: 14 verified landmark pairs, and MR headers moved by
known rigid transforms (origin and direction edited, voxels untouched). Recovery is measured relative to
the registration of the unmoved pair, as the mean distance over CT body points. Every test here runs full
registrations: the module is in the slow tier.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.imaging.body_mask import body_mask, mask_points_lps
from CTMRFusionLib.io.landmark_files import LandmarkSet, read_landmarks
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.rigid import register_rigid
from CTMRFusionLib.registration.tre import target_registration_error
from support.data import shared_path
from support.ground_truth import move_header, rigid_matrix

pytestmark = pytest.mark.slow

RECOVERY_LIMIT_MM = 1.5


def body_points(ct: sitk.Image, count: int = 3000) -> np.ndarray:
    """Up to ``count`` CT body points (LPS mm), evenly subsampled from the body mask."""
    return mask_points_lps(body_mask(ct), count)


def recovery_error(result_moved, result_reference, move: np.ndarray, points: np.ndarray) -> np.ndarray:
    """|T_moved(p) - move(T_ref(p))| for CT points p: the moved MR's registration against the truth."""
    homogeneous = np.c_[points, np.ones(len(points))]
    expected = move @ sitk_transform_to_matrix(result_reference.transform)
    actual = sitk_transform_to_matrix(result_moved.transform)
    return np.linalg.norm((homogeneous @ actual.T - homogeneous @ expected.T)[:, :3], axis=1)


@pytest.fixture(scope="module")
def demo_reference(demo_run):
    """The default registration of the unmoved sample pair: the session's ``ctmrfusion demo`` run (the
    transform file it wrote, and its report)."""
    run, out = demo_run
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((out / "registration_report.json").read_text())
    return SimpleNamespace(
        transform=sitk.ReadTransform(str(out / "mr_to_ct.h5")),
        initializer=report["initializer"],
        levels=report["levels"],
        metric=report["metric"],
    )


def test_default_registration_of_demo_pair_is_within_2_5_mm_landmark_tre(demo_reference, sample):
    tre = target_registration_error(
        demo_reference.transform, read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    )
    assert tre.before["mean_mm"] > 95  # the frames are flipped ~178 degrees: identity is far off
    assert tre.after["mean_mm"] <= 2.5
    assert tre.after["max_mm"] <= 5.0
    assert demo_reference.initializer == "search"
    assert len(demo_reference.levels) == 3 and demo_reference.metric < -0.5


@pytest.mark.parametrize(
    "options, limit_mm",
    [
        (RegistrationOptions(optimizer="gradient_descent"), 3.0),  # elastix handed the flip: 3.0 mm
        (RegistrationOptions.from_preset("fast"), 3.5),
    ],
    ids=["gradient_descent", "fast_preset"],
)
def test_other_optimizer_and_fast_preset_also_register_the_demo_pair(demo_images, sample, options, limit_mm):
    result = register_rigid(*demo_images, options)
    tre = target_registration_error(
        result.transform, read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    )
    assert tre.after["mean_mm"] <= limit_mm


@pytest.mark.parametrize(
    "angles_deg, translation_mm",
    [
        ((30, 0, 0), (40, 0, 0)),
        ((0, -30, 0), (0, 40, -40)),
        ((-30, 0, 20), (40, -40, 40)),
        ((0, 30, -30), (-40, 0, 40)),
    ],
)
def test_recovers_known_rigid_moves_of_the_real_demo_mr(demo_images, demo_reference, angles_deg, translation_mm):
    ct, mr = demo_images
    move = rigid_matrix(angles_deg, translation_mm, center_lps=(0, 0, 0))
    result = register_rigid(ct, move_header(mr, move))
    errors = recovery_error(result, demo_reference, move, body_points(ct))
    assert errors.mean() <= RECOVERY_LIMIT_MM, f"mean {errors.mean():.2f} mm, max {errors.max():.2f} mm"


def _stack_slices(folder, case: str, spacing=(1.0, 1.0, 5.0)) -> sitk.Image:
    """A case's consecutive 2D slices stacked into a 3D volume (8-bit, slice spacing assumed 5 mm)."""
    files = sorted(p for p in folder.glob(f"{case}*.png") if len(p.stem) == len(case) + 3)
    volume = sitk.JoinSeries([sitk.ReadImage(str(p), sitk.sitkUInt8) for p in files])
    volume.SetSpacing(spacing)
    return volume


@pytest.mark.real_data
def test_recovers_known_moves_of_2d_slices_stacked_into_a_coarse_8_bit_volume():
    ct = _stack_slices(shared_path("harvard_ctmri", "CT"), "32")
    mr = _stack_slices(shared_path("harvard_ctmri", "MRI"), "32")
    assert ct.GetSize()[2] >= 10
    reference = register_rigid(ct, mr)
    points = body_points(ct)
    aligned = recovery_error(reference, reference, np.eye(4), points)  # sanity of the helper itself
    assert aligned.max() == pytest.approx(0.0, abs=1e-9)
    # The pair is co-registered by construction: the reference registration stays near identity.
    homogeneous = np.c_[points, np.ones(len(points))]
    drift = np.linalg.norm((homogeneous @ sitk_transform_to_matrix(reference.transform).T)[:, :3] - points, axis=1)
    assert drift.mean() < 3.0
    for angles, translation in (((0, 0, 25), (20, -15, 10)), ((10, -8, -20), (-25, 10, 5))):
        move = rigid_matrix(angles, translation, center_lps=np.mean(points, axis=0))
        result = register_rigid(ct, move_header(mr, move))
        errors = recovery_error(result, reference, move, points)
        assert errors.mean() <= RECOVERY_LIMIT_MM, f"{angles}: mean {errors.mean():.2f} mm"


@pytest.mark.real_data
def test_full_resolution_mri_dir_pair_moved_by_a_known_rigid_move_registers_within_2_5_mm():
    """One registration, absolute truth: the full-resolution MR moved by a known rigid move (on top of the
    frames' 178° flip), scored on the 14 verified landmarks moved with it."""
    ct = sitk.ReadImage(str(shared_path("mri_dir_porcine", "ct.nrrd")))
    mr = sitk.ReadImage(str(shared_path("mri_dir_porcine", "mr_t2.nrrd")))
    ct_points, mr_points = (
        read_landmarks(shared_path("mri_dir_porcine", "landmarks", f"{m}_landmarks_lps.csv")) for m in ("ct", "mr")
    )
    move = rigid_matrix((-25, 20, 15), (30, -35, 25), center_lps=(0, 0, 0))
    moved_points = LandmarkSet(mr_points.labels, mr_points.points_lps @ move[:3, :3].T + move[:3, 3])
    result = register_rigid(ct, move_header(mr, move))
    tre = target_registration_error(result.transform, ct_points, moved_points)
    assert tre.before["mean_mm"] > 50 and tre.after["mean_mm"] <= 2.5, tre.after
