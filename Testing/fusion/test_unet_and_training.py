"""The fusion U-Net's architecture and the training loop: tiny real-data runs (seeded, resumable)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -c constraints.txt -e '.[dev]')")

from CTMRFusionLib.datasets.atlas_slices import find_pairs, load_arrays
from CTMRFusionLib.fusion.losses import (
    METRIC_PROXIES,
    LossWeights,
    correlation,
    distillation_loss,
    edge_preservation,
    rival_metric_weights,
    rival_shortfall,
    soft_entropy_bits,
    ssim,
    unsupervised_loss,
)
from CTMRFusionLib.fusion.training import TrainingConfig, export_best, initial_weights, train
from CTMRFusionLib.fusion.unet import FusionUNet
from CTMRFusionLib.ml.model_cards import load_record, render
from support.data import shared_path


def test_unet_blocks_and_arbitrary_sizes():
    model = FusionUNet(width=4)
    assert len(model.down) == 5 and len(model.up) == 4
    convs = [m for m in model.down.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10 and all(c.kernel_size == (3, 3) for c in convs)
    for height, width in ((37, 53), (16, 16), (256, 256), (5, 9)):
        with torch.no_grad():
            out = model(torch.rand(2, 2, height, width))
        assert out.shape == (2, 1, height, width)
        assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_flip_averaging_is_the_mean_of_the_mirrored_passes():
    """With ``flip_average`` the output is the mean of the four mirrored single passes, so mirroring the input
    mirrors the output exactly; a single pass of the same (random, asymmetric) weights does not."""
    torch.manual_seed(0)
    averaged = FusionUNet(width=4, flip_average=True).eval()
    single = FusionUNet(width=4).eval()
    single.load_state_dict(averaged.state_dict())
    x = torch.rand(1, 2, 37, 30)
    with torch.no_grad():
        passes = [
            torch.flip(single(torch.flip(x, dims)), dims) if dims else single(x) for dims in ([], [3], [2], [2, 3])
        ]
        torch.testing.assert_close(averaged(x), sum(passes) / 4)
        torch.testing.assert_close(averaged(torch.flip(x, [3])), torch.flip(averaged(x), [3]))
        assert float((single(torch.flip(x, [3])) - torch.flip(single(x), [3])).abs().max()) > 1e-4


def test_losses_reward_the_right_images():
    rng = np.random.default_rng(0)
    ct = torch.from_numpy(rng.uniform(0, 1, (1, 1, 32, 32)).astype(np.float32))
    mr = torch.from_numpy(rng.uniform(0, 1, (1, 1, 32, 32)).astype(np.float32))
    assert float(ssim(ct, ct)[0]) == pytest.approx(1.0, abs=1e-5)
    assert float(correlation(ct, 2 * ct + 1)[0]) == pytest.approx(1.0, abs=1e-5)
    weights = LossWeights()
    good, _ = unsupervised_loss(torch.maximum(ct, mr), ct, mr, weights)
    flat, _ = unsupervised_loss(torch.full_like(ct, 0.5), ct, mr, weights)
    assert float(good) < float(flat)


def test_screen_target_fades_the_darker_source_near_white():
    """Intensity term: the screen target max + κ·min·(1 − max) is met exactly by the screen blend (never
    above 1), which the additive target max + κ·min (clipped at 1) scores as off where both are bright."""
    ct = torch.tensor([[[[0.9, 0.2], [0.5, 0.0]]]]).repeat(1, 1, 8, 8)  # 16×16: every term needs 11×11 windows
    mr = torch.tensor([[[[0.8, 0.6], [0.5, 0.3]]]]).repeat(1, 1, 8, 8)
    kappa = 0.3
    brighter, darker = torch.maximum(ct, mr), torch.minimum(ct, mr)
    screen = brighter + kappa * darker * (1 - brighter)
    only_intensity = dict(ssim=0, intensity=1, gradient=0, scd=0, min_share=kappa)
    _, on_screen = unsupervised_loss(screen, ct, mr, LossWeights(screen_target=True, **only_intensity))
    _, additive = unsupervised_loss(screen, ct, mr, LossWeights(**only_intensity))
    assert on_screen["intensity"] == pytest.approx(0.0, abs=1e-7)
    # additive target 1.0 (1.14 clipped), 0.66, 0.65, 0.3 against the screen blend 0.924, 0.624, 0.575, 0.3
    assert additive["intensity"] == pytest.approx((0.076 + 0.036 + 0.075 + 0.0) / 4, abs=1e-6)


def test_entropy_term_measures_the_body_histogram_and_ignores_the_background():
    """The differentiable entropy matches the exact 64-bin entropy of bin-centred values, grows as the body's
    grey levels spread, ignores the background, and its gradient spreads the values."""
    levels = (torch.arange(64, dtype=torch.float32) + 0.5) / 64  # bin centres: exact two-bin votes
    spread = levels.repeat(16)[None, None].reshape(1, 1, 32, 32)
    assert float(soft_entropy_bits(spread, torch.ones_like(spread))[0]) == pytest.approx(6.0, abs=1e-4)
    two = torch.where(torch.arange(1024).reshape(1, 1, 32, 32) % 2 == 0, levels[10], levels[50])
    assert float(soft_entropy_bits(two, torch.ones_like(two))[0]) == pytest.approx(1.0, abs=1e-4)
    # The loss term: only where max(CT, MR) > 4/255; a halo in the background changes nothing.
    ct = torch.zeros(1, 1, 32, 32)
    ct[..., 8:24, 8:24] = 0.6
    mr = ct * 0.5
    weights = LossWeights(ssim=0, intensity=0, gradient=0, scd=0, entropy=1)
    fused = ct.clone()
    fused[..., 8:24, 8:24] = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    haloed = fused.clone()
    haloed[..., :4, :] = 3 / 255
    assert float(unsupervised_loss(fused, ct, mr, weights)[0]) == pytest.approx(
        float(unsupervised_loss(haloed, ct, mr, weights)[0]), abs=1e-6
    )
    flat_loss = float(unsupervised_loss(ct, ct, mr, weights)[0])  # one grey level inside the body
    assert flat_loss == pytest.approx(1.0, abs=0.2) and float(unsupervised_loss(fused, ct, mr, weights)[0]) < 0.1
    narrow = torch.where(ct > 0, 0.45 + 0.1 * fused, ct).requires_grad_(True)
    unsupervised_loss(narrow, ct, mr, weights)[0].backward()
    stepped = (narrow - 0.5 * narrow.grad / narrow.grad.abs().max()).detach()  # one step downhill
    body = ct > 0
    assert float(stepped[body].std()) > float(narrow.detach()[body].std())


@pytest.mark.real_data
def test_edge_term_is_the_qabf_metric_and_rewards_the_sources_edges():
    """On real validation slices the differentiable Q^AB/F equals the metric's for the classic rules, and
    its gradient moves a blurred fused image towards higher Q^AB/F."""
    from scipy import ndimage

    from CTMRFusionLib.fusion import rules as fusion_rules
    from CTMRFusionLib.fusion.metrics import qabf

    ct, mr = load_arrays([p for p in find_pairs(shared_path("harvard_ctmri")) if p.case == "33"][:2])
    as_tensor = lambda image: torch.from_numpy(np.asarray(image, dtype=np.float32)[None, None] / 255.0)  # noqa: E731
    for i in range(2):
        for rule in ("max", "average", "gff"):
            fused = fusion_rules.RULES[rule](ct[i].astype(float), mr[i].astype(float))
            expected = qabf(ct[i], mr[i], fused)
            measured = float(edge_preservation(as_tensor(fused), as_tensor(ct[i]), as_tensor(mr[i]))[0])
            assert measured == pytest.approx(expected, abs=2e-4), rule
    blurred = ndimage.gaussian_filter(np.maximum(ct[0], mr[0]).astype(float), 2.0)
    f = as_tensor(blurred).requires_grad_(True)
    loss = 1 - edge_preservation(f, as_tensor(ct[0]), as_tensor(mr[0]))[0]
    loss.backward()
    stepped = (f - 0.02 * f.grad / f.grad.abs().max()).detach().clamp(0, 1).numpy()[0, 0] * 255
    assert qabf(ct[0], mr[0], stepped) > qabf(ct[0], mr[0], blurred) + 0.002  # measured +0.0045


def test_metric_proxies_equal_the_metrics():
    """SD, SF and SCD proxies are the metrics of ``fusion_metrics`` (on the 0–1 scale, so ×255 for SD/SF)."""
    from CTMRFusionLib.fusion import metrics as fusion_metrics

    rng = np.random.default_rng(3)
    ct, mr, f = (rng.uniform(0, 255, (24, 31)) for _ in range(3))
    t = lambda image: torch.from_numpy(image[None, None] / 255.0)  # noqa: E731
    proxy = {name: float(METRIC_PROXIES[name](t(f), t(ct), t(mr))[0]) for name in ("SD", "SF", "SCD")}
    assert proxy["SD"] * 255 == pytest.approx(fusion_metrics.standard_deviation(f), rel=1e-9)
    assert proxy["SF"] * 255 == pytest.approx(fusion_metrics.spatial_frequency(f), rel=1e-9)
    assert proxy["SCD"] == pytest.approx(fusion_metrics.sum_of_correlations_of_differences(ct, mr, f), rel=1e-9)


@pytest.mark.real_data
def test_vif_proxy_is_the_metric_and_its_gradient_raises_it():
    """The differentiable VIF equals ``fusion_metrics.visual_information_fidelity`` on real slices fused by
    each rule, and one step along its gradient from a blurred fusion raises the metric."""
    from scipy import ndimage

    from CTMRFusionLib.fusion import rules as fusion_rules
    from CTMRFusionLib.fusion.metrics import visual_information_fidelity

    ct, mr = load_arrays(find_pairs(shared_path("harvard_ctmri"))[40:42])
    ct, mr = ct.astype(np.float64), mr.astype(np.float64)
    as_tensor = lambda image: torch.from_numpy(np.ascontiguousarray(image)[None, None] / 255.0)  # noqa: E731
    for rule in fusion_rules.RULES:
        fused = np.clip(fusion_rules.RULES[rule](ct[0], mr[0]), 0, 255)
        expected = visual_information_fidelity(ct[0], mr[0], fused)
        measured = float(METRIC_PROXIES["VIF"](as_tensor(fused), as_tensor(ct[0]), as_tensor(mr[0]))[0])
        assert measured == pytest.approx(expected, rel=1e-9), rule
    blurred = ndimage.gaussian_filter(np.maximum(ct[1], mr[1]), 1.5)
    f = as_tensor(blurred).requires_grad_(True)
    METRIC_PROXIES["VIF"](f, as_tensor(ct[1]), as_tensor(mr[1]))[0].backward()
    stepped = (f + 0.02 * f.grad / f.grad.abs().max()).detach().clamp(0, 1).numpy()[0, 0] * 255
    gain = visual_information_fidelity(ct[1], mr[1], stepped) - visual_information_fidelity(ct[1], mr[1], blurred)
    assert gain > 0.005, gain


def test_teacher_floor_pulls_only_on_metrics_below_the_teachers():
    """Distillation's optional floor: a student equal to its teacher pays exactly the margin (SD: 0.01), one
    with twice the teacher's contrast pays nothing for SD, and the floor's weight scales the term."""
    rng = np.random.default_rng(6)
    ct, mr = (torch.from_numpy(rng.uniform(0, 1, (2, 1, 24, 24))) for _ in range(2))
    teacher = 0.5 * (ct + mr)
    centred = teacher - teacher.mean(dim=(2, 3), keepdim=True)
    plain, plain_terms = distillation_loss(teacher, teacher)
    assert "teacher_floor" not in plain_terms
    weights = LossWeights(teacher_floor=3, teacher_metrics="SD", teacher_margin=0.01)
    equal, terms = distillation_loss(teacher, teacher, ct, mr, weights)
    assert terms["teacher_floor"] == pytest.approx(0.01, rel=1e-4)  # 1e-6 guards the division by the teacher's SD
    assert float(equal - plain) == pytest.approx(0.03, rel=1e-4)
    sharper = (teacher.mean(dim=(2, 3), keepdim=True) + 2 * centred).requires_grad_(True)
    _, terms = distillation_loss(sharper, teacher, ct, mr, weights)
    assert terms["teacher_floor"] == 0.0
    with pytest.raises(ValueError, match="teacher_metrics: unknown metric"):
        LossWeights(teacher_floor=1, teacher_metrics="SD,MI")


def test_rival_shortfall_is_the_relative_gap_to_the_best_rule():
    """Hand values: a rival with twice F's SD leaves relu(1.01·2σ − σ)/(2σ) = 0.51; F equal to the best
    rival leaves exactly the margin; F twice the best rival's SD leaves 0 and no gradient."""
    rng = np.random.default_rng(4)
    f = torch.from_numpy(rng.uniform(0.2, 0.6, (1, 1, 20, 20))).requires_grad_(True)
    ct = mr = torch.zeros_like(f)
    centred = f.detach() - f.detach().mean()
    double_sd_and_equal = torch.cat([0.5 + 2 * centred, f.detach()], 1)  # rivals: twice F's SD, and F itself
    gap = rival_shortfall(f, ct, mr, double_sd_and_equal, {"SD": 1}, 0.01)
    assert float(gap.detach()) == pytest.approx(0.51, rel=1e-5)
    gap.backward()
    assert float(f.grad.abs().sum()) > 0
    assert float(rival_shortfall(f, ct, mr, f.detach(), {"SD": 1, "SF": 1}, 0.01).detach()) == pytest.approx(
        0.01, rel=1e-4
    )
    # a weight scales its metric's share of the mean: SD 0.51 × 3 and SF 0.01 × 1, over 2 metrics
    weighted = rival_shortfall(f, ct, mr, double_sd_and_equal, {"SD": 3, "SF": 1}, 0.01)
    sf_alone = rival_shortfall(f, ct, mr, double_sd_and_equal, {"SF": 1}, 0.01)
    assert float(weighted.detach()) == pytest.approx((3 * 0.51 + float(sf_alone.detach())) / 2, rel=1e-5)
    f.grad = None
    beaten = rival_shortfall(f, ct, mr, 0.5 + 0.5 * centred, {"SD": 1}, 0.01)
    assert float(beaten.detach()) == 0.0
    beaten.backward()
    assert float(f.grad.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="unknown"):
        LossWeights(rivals=1, rival_metrics="SD,MI")
    assert rival_metric_weights(LossWeights(rivals=1, rival_metrics=" EN, SSIM:3 ,Qabf:0.5")) == {
        "EN": 1.0,
        "SSIM": 3.0,
        "Qabf": 0.5,
    }
    for bad, message in [
        ("SD:0", "must be a number > 0"),
        ("SD:x", "must be a number > 0"),
        ("SD,SD:2", "listed twice"),
        (" , ", "empty list"),
    ]:
        with pytest.raises(ValueError, match=message):
            LossWeights(rivals=1, rival_metrics=bad)
    with pytest.raises(ValueError, match="classic rules' images"):
        unsupervised_loss(f, ct, mr, LossWeights(rivals=1))


def test_model_card_lists_the_loss_settings_used():
    from CTMRFusionLib.fusion.model_card import loss_settings_text

    plain = loss_settings_text(LossWeights(ssim=3, entropy=0, screen_target=True).as_dict())
    assert plain == "ssim 3, intensity 1, gradient 1, scd 0.5, screen_target, gradient_gain 1"
    with_rivals = loss_settings_text(LossWeights(rivals=20, rival_metrics="SD,Qabf").as_dict())
    assert with_rivals.endswith("rivals 20, rival_metrics SD,Qabf, rival_margin 0.01")


@pytest.mark.slow
@pytest.mark.real_data
def test_rivals_loss_trains_on_the_rules_images_of_the_same_crops(tmp_path):
    """With the rivals term the training stacks carry the four rules' images after CT and MR (channel 3 is
    the max rule), and a short run lowers that term."""
    from CTMRFusionLib.fusion import rules as fusion_rules
    from CTMRFusionLib.fusion.training import _load_split

    config = _config(
        tmp_path / "run",
        8,
        learning_rate=1e-2,
        weights=LossWeights(ssim=0, intensity=0, gradient=0, scd=0, rivals=1, rival_metrics="SD,SF"),
    )
    train_set, validation_set, _, _ = _load_split(config)
    assert train_set.shape[1] == 2 + len(fusion_rules.RULES) and validation_set.shape[1] == train_set.shape[1]
    names = list(fusion_rules.RULES)
    torch.testing.assert_close(train_set[:, 2 + names.index("max")], torch.maximum(train_set[:, 0], train_set[:, 1]))
    history = train(config, show_progress=False)
    losses = [e["validation_loss"] for e in history["epochs"]]
    assert losses[-1] < losses[0] * 0.8, losses


def test_fine_tuning_starts_from_an_exported_model_and_checks_its_width(tmp_path):
    from CTMRFusionLib.fusion.model import export_torchscript

    model = FusionUNet(4)
    export_torchscript(model, tmp_path / "m.pt", {"width": 4})
    state = initial_weights(tmp_path / "m.pt", 4)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(state[key], value)
    with pytest.raises(ValueError, match="width-8"):
        initial_weights(tmp_path / "m.pt", 8)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.pt holds neither"):
        initial_weights(tmp_path / "junk.pt", 4)
    with pytest.raises(FileNotFoundError, match="no file"):
        initial_weights(tmp_path / "missing.pt", 4)


def _config(tmp_path, epochs, **changes):
    settings = dict(width=4, batch_size=4, crop=64, limit_slices=8, threads=1)
    settings.update(changes)
    return TrainingConfig(data=str(shared_path("harvard_ctmri")), output=str(tmp_path), epochs=epochs, **settings)


@pytest.mark.slow
@pytest.mark.real_data
def test_training_is_seeded_and_resumes_exactly(tmp_path):
    """Two epochs, then a resumed third, match an uninterrupted three-epoch run (same data order and
    augmentation; oneDNN's CPU convolutions are not bitwise reproducible, hence the 1e-3 tolerance)."""
    straight = train(_config(tmp_path / "straight", 3), show_progress=False)
    train(_config(tmp_path / "resumed", 2), show_progress=False)
    resumed = train(_config(tmp_path / "resumed", 3), show_progress=False, resume=True)
    losses = [e["train_loss"] for e in straight["epochs"]]
    assert [e["train_loss"] for e in resumed["epochs"]] == pytest.approx(losses, rel=1e-3)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-3, rtol=1e-2)
    assert losses[-1] < losses[0]
    history = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert len(history["epochs"]) == 3 and set(history["validation_metrics"]) >= {"EN", "Qabf", "SSIM"}
    assert not set(history["train_cases"]) & set(history["validation_cases"])


@pytest.mark.slow
@pytest.mark.real_data
def test_supervised_mode_learns_its_targets(tmp_path):
    """Targets: the max rule of real slices; the supervised loss must fall."""
    import SimpleITK as sitk

    root = shared_path("harvard_ctmri")
    targets = tmp_path / "targets"
    targets.mkdir()
    for pair in find_pairs(root):
        ct, mr = load_arrays([pair])
        sitk.WriteImage(sitk.GetImageFromArray(np.maximum(ct[0], mr[0])), str(targets / pair.ct_path.name))
    history = train(
        _config(
            tmp_path / "run", 8, mode="supervised", targets=str(targets), learning_rate=3e-3, batch_size=2, crop=96
        ),
        show_progress=False,
    )
    losses = [e["validation_loss"] for e in history["epochs"]]
    assert losses[-1] < losses[0] * 0.97 and losses == sorted(losses, reverse=True)


@pytest.mark.slow
@pytest.mark.real_data
def test_export_writes_a_checked_torchscript_and_card(tmp_path):
    from CTMRFusionLib.fusion.model import load_fusion_model

    history = train(_config(tmp_path / "run", 1), show_progress=False)
    digest = export_best(tmp_path / "run", tmp_path / "model.pt", history)
    card = (tmp_path / "model.md").read_text()
    assert digest in card and "Validation metrics" in card
    model = load_fusion_model(tmp_path / "model.pt", device="cpu", expected_sha256=digest)
    assert model.metadata["width"] == 4
    reference = FusionUNet(4)
    reference.load_state_dict(torch.load(tmp_path / "run" / "best.pt", weights_only=True)["model"])
    x = torch.rand(1, 2, 48, 40)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), reference(x))
    # --flip-average: the same weights, exported to average the four mirrored passes; said in the card
    history["config"]["flip_average"] = True
    export_best(tmp_path / "run", tmp_path / "flips.pt", history)
    flips = load_fusion_model(tmp_path / "flips.pt", device="cpu")
    reference.flip_average = True
    assert flips.metadata["flip_average"] is True and model.metadata["flip_average"] is False
    with torch.no_grad():
        torch.testing.assert_close(flips.module(x), reference(x))
    card = (tmp_path / "flips.md").read_text()
    assert "Flip averaging" in card and "--flip-average" in card
    assert "Flip averaging" not in (tmp_path / "model.md").read_text()
    # The card is generated from the training record written beside the model; a fine-tune from the exported
    # model extends the record's chain of runs, and its card lists both commands.
    record = load_record(tmp_path / "model.pt")
    assert record["sha256"] == digest and render(record) == (tmp_path / "model.md").read_text()
    assert [step["run"] for step in record["chain"]] == ["run"]
    tuned = train(
        TrainingConfig(**{**_config(tmp_path / "tuned", 1).__dict__, "init_from": str(tmp_path / "model.pt")}),
        show_progress=False,
    )
    assert [step["run"] for step in tuned["chain"]] == ["run", "tuned"]
    export_best(tmp_path / "tuned", tmp_path / "tuned.pt", tuned)
    tuned_card = (tmp_path / "tuned.md").read_text()
    assert "a chain of 2 runs" in tuned_card and "--init-from runs/run/best.pt" in tuned_card


@pytest.mark.slow
@pytest.mark.real_data
def test_distillation_learns_a_flip_averaged_teachers_outputs_in_one_pass(tmp_path):
    """Distillation mode: the targets are a teacher model's outputs on the whole training slices (float, not
    rounded), the student is a single-pass U-Net whose distillation loss falls, the history keeps the teacher's
    validation metrics beside the student's, and the card says what the student learned from."""
    from CTMRFusionLib.fusion.model import export_torchscript, load_fusion_model
    from CTMRFusionLib.fusion.training import _load_split

    torch.manual_seed(5)
    export_torchscript(FusionUNet(4, flip_average=True), tmp_path / "teacher.pt", {"width": 4, "flip_average": True})
    config = _config(
        tmp_path / "student", 6, mode="distillation", teacher=str(tmp_path / "teacher.pt"), learning_rate=3e-3
    )
    train_set, _, _, _ = _load_split(config)
    teacher = load_fusion_model(tmp_path / "teacher.pt", "cpu")
    expected = teacher.fuse(train_set[:, 0].numpy() * 255, train_set[:, 1].numpy() * 255) / 255
    torch.testing.assert_close(train_set[:, 2], torch.from_numpy(expected), atol=1e-5, rtol=0)
    history = train(config, show_progress=False)
    losses = [e["validation_loss"] for e in history["epochs"]]
    assert losses[-1] < losses[0] * 0.8, losses
    assert set(history["teacher_validation_metrics"]) == set(history["validation_metrics"])
    export_best(tmp_path / "student", tmp_path / "student.pt", history)
    assert load_fusion_model(tmp_path / "student.pt", "cpu").metadata["flip_average"] is False
    card = (tmp_path / "student.md").read_text()
    assert "--mode distillation" in card and f"--teacher {tmp_path / 'teacher.pt'}" in card
    assert "Single pass" in card and "its teacher (flip-averaged" in card
