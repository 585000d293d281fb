"""A registration that is never confidently wrong (issue 33): thin slabs never turn over, and the confidence verdict
is low for failures made on purpose (an MR of noise, an MR of another organ) and high for good registrations.

Truth: the Harvard stacks are co-registered (identity), under known seeded moves of the MR's header; the bundled
MRI-DIR pair's 14 landmark pairs. The full sweep is ``Testing/benchmarks/benchmark_sweep.py``.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.registration.confidence import (
    MIN_ALTERNATIVE_GAP,
    MIN_BODY_INSIDE,
    MIN_NORMALIZED_MI,
    judge,
)
from CTMRFusionLib.registration.mi_score import MutualInformationScore
from CTMRFusionLib.registration.rigid import register_rigid
from CTMRFusionLib.registration.tre import target_registration_error
from support.atlas_stacks import atlas_stacks, body_points, errors, stack
from support.ground_truth import move_header, rigid_matrix
from support.scanner_couch import add_couch

GOOD = {"normalized_mi": 0.13, "ct_in_mr": 0.98, "mr_in_ct": 0.97, "alternative_gap": None}


def test_each_failed_measure_makes_the_verdict_low_and_says_why():
    assert judge(dict(GOOD)).level == "high"
    cases = {
        "normalized_mi": {"normalized_mi": MIN_NORMALIZED_MI / 2},
        "body": {"ct_in_mr": MIN_BODY_INSIDE - 0.2, "mr_in_ct": MIN_BODY_INSIDE - 0.1},
        "gap": {"alternative_gap": MIN_ALTERNATIVE_GAP / 2, "alternative_distance_mm": 42.0},
        "no overlap": {"normalized_mi": None},
    }
    for name, change in cases.items():
        verdict = judge({**GOOD, **change})
        assert verdict.level == "low" and len(verdict.reasons) == 1, name
    # One body inside the other is enough (an MR smaller than the CT is not held against the result).
    assert judge({**GOOD, "ct_in_mr": 0.4, "mr_in_ct": 0.99}).level == "high"
    assert "42 mm" in judge({**GOOD, **cases["gap"]}).reasons[0]


def test_a_pose_that_leaves_ct_outside_the_mr_scores_only_what_the_mr_sees(demo_images):
    """The search's score is MI times the share of CT samples inside the MR: partial overlap is not rewarded."""
    ct, mr = demo_images
    score = MutualInformationScore(sitk.Cast(ct, sitk.sitkFloat32), sitk.Cast(mr, sitk.sitkFloat32), None, 32, 5000, 1)
    shifted = sitk.TranslationTransform(3, (0.0, 0.0, 60.0))
    statistics = score.statistics(shifted)
    assert 0.1 < statistics["seen_share"] < 0.9
    assert score(shifted) == pytest.approx(-statistics["mi"] * statistics["seen_share"], rel=1e-12)
    full = score.statistics(sitk.Transform())
    assert full["ct_entropy"] > 0 and full["mr_entropy"] > 0


def test_the_bundled_pair_registers_with_high_confidence(demo_images, sample):
    from CTMRFusionLib.io.landmark_files import read_landmarks

    ct, mr = demo_images
    result = register_rigid(ct, mr)
    tre = target_registration_error(
        result.transform, read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    )
    assert tre.after["mean_mm"] <= 2.5
    assert result.confidence.level == "high", result.confidence.reasons
    measures = result.confidence.measures
    assert measures["normalized_mi"] > MIN_NORMALIZED_MI and max(measures["ct_in_mr"], measures["mr_in_ct"]) > 0.9
    report = result.to_dict()["confidence"]
    assert report["level"] == "high" and report["reasons"] == [] and "normalized_mi" in report


@pytest.fixture(scope="module")
def stacks():
    return atlas_stacks()


@pytest.mark.real_data
def test_an_mr_of_noise_is_registered_with_low_confidence(stacks):
    ct, mr = stacks["28"]
    noise = sitk.GetImageFromArray(np.random.default_rng(3).uniform(0, 255, sitk.GetArrayViewFromImage(mr).shape))
    noise.CopyInformation(mr)
    verdict = register_rigid(ct, noise).confidence
    assert verdict.level == "low"
    assert any("normalised MI" in reason for reason in verdict.reasons)


@pytest.mark.real_data
@pytest.mark.parametrize("other", ["porcine phantom MR (another organ)", "another patient's MR"])
def test_an_mr_of_another_organ_or_patient_is_registered_with_low_confidence(stacks, demo_images, other):
    ct = stacks["28"][0]
    mr = demo_images[1] if other.startswith("porcine") else stacks["34"][1]
    verdict = register_rigid(ct, mr).confidence
    assert verdict.level == "low", verdict.measures
    assert verdict.measures["normalized_mi"] < MIN_NORMALIZED_MI


@pytest.mark.real_data
@pytest.mark.parametrize("case", ["20", "34"])
def test_a_thin_slab_never_turns_over_under_random_moves_or_a_half_turn(stacks, case):
    """12 slices (60 mm) of a shared stack, moved by two seeded random moves (±30°, ±30 mm) and turned 180° about
    the head–foot axis: each ends near the truth with high confidence. Before the overlap-weighted search
    score, such slabs of stacks 20 and 34 ended 60–130 mm off."""
    ct_full, mr_full = stacks[case]
    ct = stack(sitk.GetArrayFromImage(ct_full)[:12])
    mr = stack(sitk.GetArrayFromImage(mr_full)[:12])
    _assert_near_the_truth_with_high_confidence(ct, mr, body_points(ct), 3300 + int(case), (0.0, 0.0, 180.0))


@pytest.mark.real_data
@pytest.mark.parametrize("case", ["2", "33"])
def test_a_slab_with_a_scanner_couch_in_the_ct_never_turns_over(stacks, case):
    """The held-out slab of issue 33 (17 slices × 5 mm, the scanner table's arcs in the CT) as the shared stacks
    give it: their middle 17 slices with a synthetic couch behind the head in the CT only, moved by two seeded
    random moves (±30°, ±30 mm) and turned 180° about the left–right axis. The MR never shows the couch; each run
    ends near the truth (error over head points) with high confidence. The sweep benchmark runs 23 moves of each
    stack's couch slab beside elastix."""
    ct_full, mr_full = stacks[case]
    ct_slices, mr_slices = sitk.GetArrayFromImage(ct_full), sitk.GetArrayFromImage(mr_full)
    middle = (len(ct_slices) - 17) // 2
    plain_ct = stack(ct_slices[middle : middle + 17])
    ct, mr = add_couch(plain_ct), stack(mr_slices[middle : middle + 17])
    assert np.count_nonzero(sitk.GetArrayViewFromImage(ct) != sitk.GetArrayViewFromImage(plain_ct)) > 17 * 200
    _assert_near_the_truth_with_high_confidence(ct, mr, body_points(plain_ct), 3317 + int(case), (180.0, 0.0, 0.0))


def _assert_near_the_truth_with_high_confidence(ct, mr, points, seed, half_turn) -> None:
    """Register ``mr`` moved by two random moves drawn with ``seed`` (±30°, ±30 mm) and turned by ``half_turn``
    (degrees about x, y, z), each about the centroid of ``points`` (CT LPS mm, where the error is measured): every
    run ends within 5 mm mean of the truth with high confidence."""
    rng = np.random.default_rng(seed)
    centre = points.mean(axis=0)
    moves = [rigid_matrix(rng.uniform(-30, 30, 3), rng.uniform(-30, 30, 3), centre) for _ in range(2)]
    moves.append(rigid_matrix(half_turn, (0.0, 0.0, 0.0), centre))
    for number, move in enumerate(moves):
        result = register_rigid(ct, move_header(mr, move))
        error = errors(sitk_transform_to_matrix(result.transform), move, points)
        assert error.mean() < 5.0, (number, error.mean())
        assert result.confidence.level == "high", (number, result.confidence.reasons)
