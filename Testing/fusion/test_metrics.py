"""The eight fusion metrics against values worked out by hand on tiny images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from CTMRFusionLib.fusion import metrics as fm

# Xydeas–Petrović constants from the paper, used to work out Q^AB/F by hand.
QG = 0.9994 / (1 + math.exp(-15 * (1.0 - 0.5)))  # equal edge strength
QA = 0.9879 / (1 + math.exp(-22 * (1.0 - 0.8)))  # equal orientation


def halves():
    """Top half 0, bottom half 255 (a horizontal edge)."""
    image = np.zeros((24, 24))
    image[12:] = 255
    return image


def test_entropy_of_two_and_four_equal_levels():
    assert fm.entropy(halves()) == pytest.approx(1.0)
    four = np.repeat(np.array([0, 60, 120, 250]), 16).reshape(8, 8)
    assert fm.entropy(four) == pytest.approx(2.0)
    assert fm.entropy(np.full((5, 5), 7)) == pytest.approx(0.0)


def test_standard_deviation_and_spatial_frequency_by_hand():
    assert fm.standard_deviation([[0, 255], [0, 255]]) == pytest.approx(127.5)
    # Row neighbours differ by 10 everywhere, column neighbours not at all: SF = sqrt(100 + 0).
    assert fm.spatial_frequency([[0, 10], [0, 10]]) == pytest.approx(10.0)
    # Rows [1,4], [2,2], [5,1]: horizontal differences 3, 0, −4 (mean square 25/3); vertical differences
    # 1, −2, 3, −1 (mean square 15/4).
    assert fm.spatial_frequency([[1, 4], [2, 2], [5, 1]]) == pytest.approx(math.sqrt(25 / 3 + 15 / 4))


def test_mutual_information_in_bits():
    a = np.array([[0, 0], [255, 255]])
    b = np.array([[0, 255], [0, 255]])  # independent of a
    assert fm.mutual_information_pair(a, a) == pytest.approx(1.0)
    assert fm.mutual_information_pair(a, b) == pytest.approx(0.0)
    assert fm.mutual_information(a, b, a) == pytest.approx(1.0)  # MI(F,CT) 1 + MI(F,MR) 0
    # Four distinct levels: F determines both sources, each 1 bit.
    assert fm.mutual_information(a, b, a / 2 + b / 4) == pytest.approx(2.0)
    # a + b clips to 255 where both are 255: levels 0, 128 (¼ each), 255 (½); MI(F,A) = 1, MI(F,B) = 1 − ½.
    assert fm.mutual_information(a, b, a + b / 2) == pytest.approx(1.5)


def test_scd_by_hand():
    a = np.array([[0.0, 2.0], [4.0, 6.0]])
    b = np.array([[0.0, 0.0], [0.0, 6.0]])
    # F = A: A − B = (0, 2, 4, 0), deviations (−1.5, .5, 2.5, −1.5); A's (−3, −1, 1, 3): covariance sum 2,
    # squares 11 and 20, so corr = 2 / sqrt(220); F − A = 0 has no correlation with anything.
    assert fm.sum_of_correlations_of_differences(a, b, a) == pytest.approx(2 / math.sqrt(220))
    # F = A + B: corr(A, A) + corr(B, B) = 2.
    assert fm.sum_of_correlations_of_differences(a, b, a + b) == pytest.approx(2.0)


def test_vif_identity_is_one_per_source_and_flat_fusion_zero():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (64, 64))
    b = rng.uniform(0, 255, (64, 64))
    assert fm.visual_information_fidelity(a, a, a) == pytest.approx(2.0, abs=1e-6)
    assert fm.visual_information_fidelity(a, b, np.full_like(a, 128.0)) == pytest.approx(0.0)
    # Independent noise in the fused image loses information: below one per source.
    assert fm.visual_information_fidelity(a, a, a + rng.normal(0, 30, a.shape)) < 1.8


def test_qabf_by_hand():
    a = halves()
    # Fused = both sources: every edge kept with equal strength and orientation.
    assert fm.qabf(a, a, a) == pytest.approx(QG * QA)
    # Fused at half contrast: strength ratio 0.5 -> Qg = 0.9994 / 2.
    assert fm.qabf(a, a, a / 2) == pytest.approx(0.9994 / 2 * QA)
    # No edges in the fused image: strength ratio 0 everywhere.
    assert fm.qabf(a, a, np.zeros_like(a)) == pytest.approx(
        0.9994 / (1 + math.exp(7.5)) * 0.9879 / (1 + math.exp(-4.4))
    )


def test_ssim_by_hand():
    c1 = (0.01 * 255) ** 2
    f, a, b = np.full((16, 16), 100.0), np.full((16, 16), 100.0), np.full((16, 16), 50.0)
    # Flat images: only the luminance term, (2·100·50 + C1) / (100² + 50² + C1) for the MR.
    assert fm.structural_similarity(a, b, f) == pytest.approx(1 + (10000 + c1) / (12500 + c1))
    rng = np.random.default_rng(2)
    texture = rng.uniform(0, 255, (32, 32))
    assert fm.ssim_pair(texture, texture) == pytest.approx(1.0)


def test_all_metrics_keys_and_2d_only():
    a = halves()
    values = fm.all_metrics(a, a, a)
    assert tuple(values) == fm.METRIC_NAMES
    with pytest.raises(ValueError, match="2D"):
        fm.entropy(np.zeros((2, 3, 4)))


def test_leads_over_the_best_rule_and_metrics_won_by_hand():
    """EN: 4.0 against rivals 3.5 and 3.9 leads by 0.1 over b; SD: 50 against 60 trails a by 10; a tie is no win."""
    from CTMRFusionLib.fusion.evaluation import leads_over_best, metrics_won

    means = {
        "unet": dict.fromkeys(fm.METRIC_NAMES, 1.0),
        "a": dict.fromkeys(fm.METRIC_NAMES, 0.5),
        "b": dict.fromkeys(fm.METRIC_NAMES, 0.5),
    }
    means["unet"].update(EN=4.0, SD=50.0, SSIM=1.5)
    means["a"].update(EN=3.5, SD=60.0, SSIM=1.5)
    means["b"].update(EN=3.9, SD=20.0)
    leads = leads_over_best(means, "unet", ("a", "b"))
    assert leads["EN"] == (pytest.approx(0.1), "b") and leads["SD"] == (pytest.approx(-10.0), "a")
    assert leads["SSIM"] == (0.0, "a")
    assert metrics_won(means, "unet", ("a", "b")) == [n for n in fm.METRIC_NAMES if n not in ("SD", "SSIM")]


def test_fold_summary_weighs_every_fold_the_same():
    """Two folds: EN 4.0 and 3.0 give 3.5 ± 0.7071 (sample SD, whatever each fold's slice count); a method
    missing from one fold is left out of the summary."""
    from CTMRFusionLib.fusion.evaluation import fold_summary

    one = {"unet": dict.fromkeys(fm.METRIC_NAMES, 1.0), "max": dict.fromkeys(fm.METRIC_NAMES, 2.0)}
    two = {"unet": dict.fromkeys(fm.METRIC_NAMES, 1.0)}
    one["unet"]["EN"], two["unet"]["EN"] = 4.0, 3.0
    summary = fold_summary([one, two])
    assert list(summary) == ["unet"]
    assert summary["unet"]["EN"] == (pytest.approx(3.5), pytest.approx(math.sqrt(0.5)))
    assert summary["unet"]["SD"] == (1.0, 0.0)
    assert fold_summary([one])["max"]["VIF"] == (2.0, 0.0)


def test_case_folds_validate_every_case_once_with_the_standing_pair_first():
    from CTMRFusionLib.datasets.atlas_slices import case_folds

    harvard = ["2", "20", "28", "32", "33", "34", "37"]
    assert case_folds(harvard) == [("33", "37"), ("2", "20"), ("28", "32"), ("34",)]
    assert case_folds(harvard, size=3) == [("33", "37"), ("2", "20", "28"), ("32", "34")]
    # without the standing pair: numeric order (not string order), groups of 2
    assert case_folds(["10", "9", "100", "11"]) == [("9", "10"), ("11", "100")]
    with pytest.raises(ValueError, match="at least 2 folds"):
        case_folds(["33", "37"])
