"""The one training loop: rounds, schedule, best-on-validation, checkpoints and exact resume (a tiny model)."""

import json

import pytest

torch = pytest.importorskip("torch")

from CTMRFusionLib.ml.training_loop import TrainingLoop
from CTMRFusionLib.ml.training_support import seed_everything


def _run(folder, total, round_steps, per_step, scripted=None, stop_after=0, resume=False):
    generator = seed_everything(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule_length = total if per_step else total // round_steps
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule_length, eta_min=0.002)
    loop = TrainingLoop(
        folder, model, optimizer, scheduler, generator, total, round_steps, per_step, "rounds",
        best_key="value" if scripted else None, stop_after=stop_after, log=lambda line: None, show_progress=False,
    )  # fmt: skip
    target = torch.tensor([[1.0], [-2.0], [0.5]])
    saved = []

    def train_step(number, step):
        x = torch.randn(8, 3, generator=generator)
        return ((model(x) - x @ target) ** 2).mean()

    def validate(number, done, train_loss):
        return {"round": number, "done": done, "value": scripted[number - 1] if scripted else train_loss}

    history, finished = loop.run(
        {}, train_step, validate, save_best=lambda number, record: saved.append(number), resume=resume
    )
    return model, history, finished, saved, scheduler


def test_rounds_cover_every_step_and_a_short_last_round(tmp_path):
    _, history, finished, _, _ = _run(tmp_path, total=10, round_steps=4, per_step=True)
    assert finished and [r["done"] for r in history["rounds"]] == [4, 8, 10]
    assert json.loads((tmp_path / "history.json").read_text())["rounds"][-1]["done"] == 10
    assert history["rounds"][-1]["train_loss"] < history["rounds"][0]["train_loss"]


def test_schedule_advances_per_step_or_per_round(tmp_path):
    _, per_step, _, _, _ = _run(tmp_path / "a", total=12, round_steps=4, per_step=True)
    _, per_round, _, _, _ = _run(tmp_path / "b", total=12, round_steps=4, per_step=False)
    # Both schedules end at eta_min: 12 of 12 steps, or 3 of 3 rounds.
    assert per_step["rounds"][-1]["learning_rate"] == pytest.approx(0.002)
    assert per_round["rounds"][-1]["learning_rate"] == pytest.approx(0.002)
    assert per_step["rounds"][0]["learning_rate"] < per_round["rounds"][0]["learning_rate"]


def test_the_best_round_is_the_lowest_validation_value_and_only_improvements_are_saved(tmp_path):
    _, history, _, saved, _ = _run(tmp_path, total=20, round_steps=4, per_step=False, scripted=[5, 3, 4, 1, 2])
    assert history["best_round"] == 4 and history["best_value"] == 1
    assert saved == [1, 2, 4]


def test_stopping_early_then_resuming_matches_a_straight_run(tmp_path):
    straight, history, _, _, _ = _run(tmp_path / "straight", total=12, round_steps=4, per_step=True)
    _, partial, finished, _, _ = _run(tmp_path / "resumed", total=12, round_steps=4, per_step=True, stop_after=4)
    assert not finished and len(partial["rounds"]) == 1
    resumed, history_resumed, finished, _, _ = _run(tmp_path / "resumed", 12, 4, True, resume=True)
    assert finished and len(history_resumed["rounds"]) == 3
    losses = [r["train_loss"] for r in history["rounds"]]
    assert [r["train_loss"] for r in history_resumed["rounds"]] == pytest.approx(losses)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
