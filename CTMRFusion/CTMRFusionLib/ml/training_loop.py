"""The one training loop of both networks (torch): rounds of steps, validation, checkpoints, exact resume.

A run is ``total_steps`` optimiser steps in rounds of ``round_steps`` (an epoch for the fusion U-Net, the steps
between validation lines for the registration network; the last round may be shorter). After each round the
trainer's ``validate`` makes the round's record, the best record so far (lowest ``best_key``) is kept through
``save_best``, and ``checkpoint.pt`` (weights, optimiser, schedule, both random states, history) and
``history.json`` are written, so ``resume=True`` continues exactly where the run stopped. ``stop_after`` > 0
stops (resumably) after that many steps, e.g. to train in sessions. Seeding is :func:`seed_everything`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from CTMRFusionLib.ml.training_support import load_checkpoint, progress_bar, save_checkpoint


@dataclass
class TrainingLoop:
    """What the loop drives and how.

    ``scheduler_per_step``: the learning-rate schedule advances every step (else every round).
    ``records_key``: the history list that gets one record per round ("epochs", "validations").
    ``best_key``: the record value whose minimum is the best round (None: no selection).
    ``label(round, step)``: the progress bar's label.
    """

    output: Path
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    generator: torch.Generator
    total_steps: int
    round_steps: int
    scheduler_per_step: bool
    records_key: str
    best_key: str | None = None
    stop_after: int = 0
    log: Callable[[str], None] = print
    show_progress: bool = True

    @property
    def checkpoint_path(self) -> Path:
        return self.output / "checkpoint.pt"

    def _write_history(self, history: dict) -> None:
        (self.output / "history.json").write_text(json.dumps(history, indent=1))

    def run(
        self,
        history: dict,
        train_step: Callable[[int, int], torch.Tensor],
        validate: Callable[[int, int, float], dict],
        start_round: Callable[[int], None] | None = None,
        save_best: Callable[[int, dict], None] | None = None,
        report: Callable[[dict], None] | None = None,
        resume: bool = False,
        label: Callable[[int, int, int], str] | None = None,
    ) -> tuple[dict, bool]:
        """Train; (``history``, whether all ``total_steps`` are done). ``history[records_key]`` gets a record per
        round.

        ``train_step(round, step_in_round)`` returns the batch loss (the loop back-propagates and steps);
        ``validate(round, steps_done, train_loss)`` returns the round's record; ``start_round(round)`` runs
        first in each round (e.g. the epoch's data order); ``save_best(round, record)`` keeps the best weights;
        ``report(record)`` logs the finished record. Rounds count from 1.
        """
        self.output.mkdir(parents=True, exist_ok=True)
        history.setdefault(self.records_key, [])
        history.setdefault("train_seconds", 0.0)
        done = 0
        if resume and self.checkpoint_path.is_file():
            state = load_checkpoint(self.checkpoint_path, self.model, self.optimizer, self.scheduler, self.generator)
            history, done = state["history"], state["steps_done"]
            self.log(f"resumed after step {done}")
        label = label or (lambda number, step, steps: f"round {number}")
        while done < self.total_steps:
            number = done // self.round_steps + 1
            steps = min(self.round_steps, self.total_steps - done)
            started, running = time.perf_counter(), 0.0
            self.model.train()
            if start_round is not None:
                start_round(number)
            for step in range(steps):
                loss = train_step(number, step)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                if self.scheduler_per_step:
                    self.scheduler.step()
                running += float(loss.detach())
                if self.show_progress:
                    progress_bar(label(number, step + 1, steps), step + 1, steps, running / (step + 1))
            if not self.scheduler_per_step:
                self.scheduler.step()
            done += steps
            self.model.eval()
            record = validate(number, done, running / steps)
            record.update(train_loss=running / steps, learning_rate=self.scheduler.get_last_lr()[0])
            record["seconds"] = time.perf_counter() - started
            history["train_seconds"] += record["seconds"]
            history[self.records_key].append(record)
            if report is not None:
                report(record)
            if self.best_key is not None and record[self.best_key] < history.get("best_value", float("inf")):
                history["best_value"], history["best_round"] = record[self.best_key], number
                if save_best is not None:
                    save_best(number, record)
            save_checkpoint(
                self.checkpoint_path, self.model, self.optimizer, self.scheduler, self.generator,
                history=history, steps_done=done,
            )  # fmt: skip
            self._write_history(history)
            if self.stop_after and self.stop_after <= done < self.total_steps:
                self.log(f"stopped after step {done}; continue with --resume")
                return history, False
        return history, True
