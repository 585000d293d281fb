"""k-fold validation by case: replaying a recorded training chain with a fold's cases held out."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -c constraints.txt -e '.[dev]')")

from CTMRFusionLib.fusion.cross_validation import replay_chain, step_config
from CTMRFusionLib.fusion.losses import LossWeights
from CTMRFusionLib.fusion.model import load_fusion_model
from CTMRFusionLib.fusion.training import TrainingConfig, _config_dict
from support.data import shared_path


def _step(run: str, **changes) -> dict:
    settings = dict(width=4, batch_size=4, crop=64, limit_slices=8, threads=1, epochs=1, learning_rate=3e-3)
    settings.update(changes)
    config = TrainingConfig(data="elsewhere", output=f"runs/{run}", validation_cases=("33", "37"), **settings)
    return {"run": run, "config": _config_dict(config), "train_seconds": 1.0}


def test_a_recorded_step_moves_to_the_fold_and_keeps_its_recipe():
    step = _step("g", learning_rate=2e-3, weights=LossWeights(ssim=3, rivals=20, rival_metrics="EN:2,Qabf"))
    config = step_config(step, "data", "out/fold2/g", ("2", "20"), "out/fold2/x/best.pt", None, 2)
    assert (config.data, config.output, config.validation_cases) == ("data", "out/fold2/g", ("2", "20"))
    assert (config.init_from, config.teacher, config.threads) == ("out/fold2/x/best.pt", None, 2)
    assert config.learning_rate == 2e-3 and config.width == 4 and config.epochs == 1
    assert config.weights == LossWeights(ssim=3, rivals=20, rival_metrics="EN:2,Qabf")


@pytest.mark.slow
@pytest.mark.real_data
def test_replaying_a_chain_holds_the_folds_cases_out_of_every_run_and_distils_its_own_teacher(tmp_path):
    """A three-run chain (a flip-averaged run, a student distilled from it, and a fine-tune of the student with
    the same teacher) replayed for fold (34,): every run validates on case 34 and trains on the others, both
    distillation runs learn from the fold's own first run exported flip-averaged, each starts from the run
    before it, the exported model is the last one, a second replay trains nothing, and a run stopped mid-way
    is trained to its end."""
    chain = [
        _step("teacher", flip_average=True),
        _step("student", mode="distillation", teacher="Resources/Models/fusion_unet.pt", init_from="runs/teacher"),
        _step("tuned", mode="distillation", teacher="Resources/Models/fusion_unet.pt", init_from="runs/student"),
    ]
    lines = []
    model_path = replay_chain(chain, ("34",), shared_path("harvard_ctmri"), tmp_path, log=lines.append)
    for run in ("teacher", "student", "tuned"):
        history = json.loads((tmp_path / run / "history.json").read_text())
        assert history["validation_cases"] == ["34"] and "34" not in history["train_cases"]
    for run, previous in (("student", "teacher"), ("tuned", "student")):
        config = json.loads((tmp_path / run / "history.json").read_text())["config"]
        assert config["teacher"] == str(tmp_path / "teacher_teacher.pt")
        assert config["init_from"] == str(tmp_path / previous / "best.pt")
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["fusion_unet.pt", "teacher_teacher.pt"]
    teacher = load_fusion_model(tmp_path / "teacher_teacher.pt", "cpu")
    assert teacher.metadata["flip_average"] is True
    shipped = load_fusion_model(model_path, "cpu")
    assert shipped.metadata["flip_average"] is False and shipped.metadata["mode"] == "distillation"
    assert [step["run"] for step in shipped.metadata["chain"]] == ["teacher", "student", "tuned"]
    stamp = (tmp_path / "tuned" / "history.json").stat().st_mtime_ns
    replay_chain(chain, ("34",), shared_path("harvard_ctmri"), tmp_path, log=lines.append)
    assert (tmp_path / "tuned" / "history.json").stat().st_mtime_ns == stamp
    assert lines[-3:] == ["teacher: done already", "student: done already", "tuned: done already"]
    # A run stopped mid-way has a history.json (written every epoch) without its chain: it is trained on.
    history_path = tmp_path / "tuned" / "history.json"
    history = json.loads(history_path.read_text())
    del history["chain"]
    history_path.write_text(json.dumps(history))
    replay_chain(chain, ("34",), shared_path("harvard_ctmri"), tmp_path, log=lines.append)
    assert lines[-1] != "tuned: done already" and "tuned: 1 epochs" in " ".join(lines[-8:])
    assert [step["run"] for step in json.loads(history_path.read_text())["chain"]] == ["teacher", "student", "tuned"]
