"""k-fold validation by case of a fusion model's whole training recipe (needs torch).

A model's training record lists the chain of runs that made it, each with its full configuration
(:func:`~CTMRFusionLib.fusion.training.parent_chain`). :func:`replay_chain` trains that chain again with other
cases held out from every run of it, so that the fold's model never saw the slices it is measured on; the
folds themselves come from :func:`~CTMRFusionLib.datasets.atlas_slices.case_folds`. A distillation step learns
from the fold's own teacher: the last run before it that is no distillation
(:func:`~CTMRFusionLib.fusion.training.teacher_step`), exported as it was (flip-averaged or not). Replays resume: a
run whose ``history.json`` is a finished run's (it names the run's chain, which training adds at the end; the loop
writes the file after every epoch) is kept, one with a ``checkpoint.pt`` continues.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from CTMRFusionLib.fusion.losses import LossWeights
from CTMRFusionLib.fusion.training import TrainingConfig, export_best, teacher_step, train


def step_config(step: dict, data, output, validation_cases, init_from, teacher, threads: int) -> TrainingConfig:
    """The configuration of one recorded run of a chain, moved to a fold: its data, output folder, held-out
    cases, starting weights, teacher and threads replaced, everything else as recorded."""
    recorded = dict(step["config"])
    known = {f.name for f in fields(TrainingConfig)}
    values = {k: v for k, v in recorded.items() if k in known}
    values.update(
        data=str(data),
        output=str(output),
        validation_cases=tuple(str(c) for c in validation_cases),
        init_from=str(init_from) if init_from else None,
        teacher=str(teacher) if teacher else None,
        threads=threads,
        weights=LossWeights(**recorded.get("weights", {})),
    )
    return TrainingConfig(**values)


def _finished_history(run: Path) -> dict | None:
    """The history of a run that trained to its end, else None (not started, or stopped mid-way)."""
    path = run / "history.json"
    if not path.is_file():
        return None
    history = json.loads(path.read_text())
    return history if "chain" in history else None


def replay_chain(
    chain: list[dict], validation_cases, data, folder, threads: int = 1, log: Callable[[str], None] = print
) -> Path:
    """Train every run of ``chain`` in turn under ``folder`` with ``validation_cases`` held out, each starting
    from the previous run's best weights; export the last as ``folder/fusion_unet.pt`` (with its record and
    card) and return that path."""
    folder = Path(folder)
    previous, history = None, None
    for index, step in enumerate(chain):
        run = folder / step["run"]
        teacher = None
        if step["config"].get("mode") == "distillation":
            source = teacher_step(chain, index)
            if source is None:
                raise ValueError(f"run {step['run']!r} distils a teacher, but no run before it made one")
            teacher = folder / f"{source['run']}_teacher.pt"
            if not teacher.is_file():
                made = folder / source["run"]
                export_best(made, teacher, json.loads((made / "history.json").read_text()))
        config = step_config(
            step, data, run, validation_cases, previous / "best.pt" if previous else None, teacher, threads
        )
        history = _finished_history(run)
        if history is not None:
            log(f"{step['run']}: done already")
        else:
            run.mkdir(parents=True, exist_ok=True)
            log(f"{step['run']}: {config.epochs} epochs, validation cases {', '.join(config.validation_cases)}")
            history = train(config, log=log, show_progress=False, resume=(run / "checkpoint.pt").is_file())
        previous = run
    if previous is None:
        raise ValueError("the training record has an empty chain")
    model_path = folder / "fusion_unet.pt"
    export_best(previous, model_path, history)
    return model_path
