"""The fusion models shipped in Resources/Models: integrity, model cards, the single-pass model's agreement with
the flip-averaged teacher it was distilled from, and the claim that it beats the classic rules on the held-out
validation cases."""

from __future__ import annotations

import numpy as np
import pytest

from CTMRFusionLib.fusion.model import shipped_model_path
from CTMRFusionLib.ml.registry import model_entry
from CTMRFusionLib.ml.torchscript import sha256_of

SHIPPED_SHA256 = model_entry("fusion_unet").sha256
TEACHER = model_entry("fusion_unet_teacher")
from support.data import shared_path

CARD = shipped_model_path().with_suffix(".md")


def test_shipped_model_file_card_and_hash_agree():
    path = shipped_model_path()
    assert path.is_file(), path
    assert path.stat().st_size <= 10 * 1024 * 1024
    digest = sha256_of(path)
    assert digest == SHIPPED_SHA256
    card = CARD.read_text()
    assert f"SHA-256: `{digest}`" in card
    for section in ("## Architecture", "## Data", "## Training", "## Validation metrics", "Training time"):
        assert section in card
    # the card names the teacher's file and what the student was asked to keep
    assert "its teacher (flip-averaged, four passes)" in card and "--teacher runs/w1/teacher.pt" in card


def test_shipped_model_loads_and_fuses_any_size_in_one_pass():
    pytest.importorskip("torch")
    from CTMRFusionLib.fusion.model import load_fusion_model

    model = load_fusion_model(device="cpu")
    assert model.sha256 == SHIPPED_SHA256 and model.metadata["kind"] == "ctmrfusion-fusion-unet"
    assert model.metadata["flip_average"] is False and model.metadata["mode"] == "distillation"
    rng = np.random.default_rng(0)
    ct = rng.uniform(0, 255, (3, 70, 45)).astype(np.float32)
    fused = model.fuse(ct, ct, batch_size=2)
    assert fused.shape == ct.shape and np.isfinite(fused).all()
    assert 0 <= fused.min() and fused.max() <= 255
    # the batch size changes how slices are grouped (and channels-last memory), not what each becomes
    np.testing.assert_allclose(model.fuse(ct, ct, batch_size=1), fused, atol=1e-3)


def test_teacher_is_flip_averaged_so_a_mirrored_pair_fuses_into_the_mirrored_result():
    pytest.importorskip("torch")
    from CTMRFusionLib.fusion.model import load_fusion_model

    teacher = load_fusion_model(TEACHER.path, "cpu", expected_sha256=TEACHER.sha256)
    assert teacher.metadata["flip_average"] is True
    rng = np.random.default_rng(0)
    ct, mr = (rng.uniform(0, 255, (2, 40, 36)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(teacher.fuse(ct[:, ::-1], mr[:, ::-1]), teacher.fuse(ct, mr)[:, ::-1], atol=1e-3)


def _card_metrics(card) -> dict:
    lines = card.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| EN"))
    names = [c.strip() for c in lines[header].strip("|").split("|")]
    values = [float(c) for c in lines[header + 2].strip("|").split("|")]
    return dict(zip(names, values))


@pytest.fixture(scope="module")
def validation_fold():
    """(CT, MR stacks, {method: metric means}) on the validation cases 33 and 37, with the shipped model ("unet"),
    its teacher ("teacher") and the four classic rules, and the two models' fused stacks."""
    pytest.importorskip("torch")
    from CTMRFusionLib.datasets.atlas_slices import find_pairs, load_arrays, split_by_case
    from CTMRFusionLib.fusion import rules as fusion_rules
    from CTMRFusionLib.fusion.evaluation import method_means
    from CTMRFusionLib.fusion.model import load_fusion_model
    from CTMRFusionLib.fusion.pipeline import fuse_stacks

    _, validation = split_by_case(find_pairs(shared_path("harvard_ctmri")))
    ct, mr = (a.astype(np.float32) for a in load_arrays(validation))
    student = load_fusion_model(device="cpu")
    teacher = load_fusion_model(TEACHER.path, "cpu", expected_sha256=TEACHER.sha256)
    means = method_means(ct, mr, ("unet",) + tuple(fusion_rules.RULES), student)
    means["teacher"] = method_means(ct, mr, ["unet"], teacher)["unet"]
    fused = {"unet": fuse_stacks(ct, mr, "unet", student), "teacher": fuse_stacks(ct, mr, "unet", teacher)}
    return means, fused


@pytest.mark.slow
@pytest.mark.real_data
def test_single_pass_model_keeps_its_teachers_quality_on_every_metric(validation_fold):
    """Issue 20's bar: on the validation slices each of the eight metric means of the single-pass model is within
    0.5 % of the flip-averaged teacher's or better (measured: −0.16 % SSIM the closest, docs/fusion.md), and
    slice by slice its output stays within a few grey levels of the teacher's."""
    means, fused = validation_fold
    for name, teacher_value in means["teacher"].items():
        assert means["unet"][name] >= teacher_value * (1 - 0.005), (name, means["unet"][name], teacher_value)
    difference = np.abs(fused["unet"] - fused["teacher"])
    assert difference.mean() < 2.0 and np.percentile(difference, 99) < 16.0, (
        difference.mean(),
        np.percentile(difference, 99),
    )


@pytest.mark.slow
@pytest.mark.real_data
def test_shipped_model_beats_every_classic_rule_on_the_metrics_docs_claim(validation_fold):
    """Measured claims (docs/fusion.md): on the held-out cases the U-Net's means of SF, SCD, Q^AB/F and SSIM are
    above those of all four classic rules (SSIM by 0.0003; EN is 0.005 below GFF's); against each rule alone it
    wins at least 5 of the 8 metrics (measured: average 7, max 5, Laplacian 7, GFF 6), as the flip-averaged
    teacher did. Both cards report what their models do."""
    from CTMRFusionLib.fusion import rules as fusion_rules
    from CTMRFusionLib.fusion.evaluation import metrics_won

    means, _ = validation_fold
    won = metrics_won(means)
    assert set(won) == {"SF", "SCD", "Qabf", "SSIM"}, (won, means)
    for rule in fusion_rules.RULES:
        beaten = [name for name, value in means["unet"].items() if value > means[rule][name]]
        assert len(beaten) >= 5, (rule, beaten)
    for name, value in _card_metrics(CARD).items():
        assert means["unet"][name] == pytest.approx(value, abs=2e-3), name
    for name, value in _card_metrics(TEACHER.card_path).items():
        assert means["teacher"][name] == pytest.approx(value, abs=2e-3), name


@pytest.mark.slow
@pytest.mark.real_data
def test_the_cards_k_fold_numbers_are_the_models_own_and_keep_five_of_eight_against_each_rule(validation_fold):
    """The shipped record's k-fold section (``benchmark_fusion_folds.py --record``): its first fold is cases 33 and
    37, where this file, its teacher and the rules are measured live here and must give the recorded means; on
    the fold average (all four folds measured, each retrained without its cases) each metric is within 0.5 % of
    the fold teachers' average or better (issue 20's acceptance, on the validation folds), and the recipe keeps
    at least 5 of the 8 metrics against the average, Laplacian and GFF rules, but only 3 (EN, SF, Qabf) against
    the max rule (measured: docs/fusion.md; folds 1 and 4 alone give 5, folds 2 and 3 give 3)."""
    from CTMRFusionLib.fusion import rules as fusion_rules
    from CTMRFusionLib.fusion.evaluation import fold_averages, fold_summary, metrics_beaten_by_rule
    from CTMRFusionLib.fusion.model_card import recorded_fold_means
    from CTMRFusionLib.ml.model_cards import load_record

    means, _ = validation_fold
    folds = load_record(shipped_model_path())["cross_validation"]
    assert folds["folds"][0] == ["33", "37"] and folds["measured_folds"] == list(range(1, len(folds["folds"]) + 1))
    assert sorted(case for fold in folds["folds"] for case in fold) == sorted(["2", "20", "28", "32", "33", "34", "37"])
    assert folds["reference"]["name"] == "teacher"
    recorded = {"unet": folds["model"][0], "teacher": folds["reference"]["values"][0]}
    recorded.update({rule: values[0] for rule, values in folds["rules"].items()})
    for method, values in recorded.items():
        for name, value in values.items():
            assert means[method][name] == pytest.approx(value, abs=2e-3), (method, name)
    assert "## k-fold validation by case" in CARD.read_text()
    average = fold_averages(fold_summary(recorded_fold_means(folds, "unet")))
    for rule, beaten in metrics_beaten_by_rule(average, "unet", tuple(fusion_rules.RULES)).items():
        if rule == "max":  # folds 2 and 3 lose SCD and SSIM to it (teacher alike): issue 20 stays open for this
            assert {"EN", "SF", "Qabf"} <= set(beaten), beaten
        else:
            assert len(beaten) >= 5, (rule, beaten)
    for name, value in average["teacher"].items():
        assert average["unet"][name] >= value * (1 - 0.005), (name, average["unet"][name], value)
