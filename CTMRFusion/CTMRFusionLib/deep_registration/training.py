"""Training the deep registration network (torch); what ``ctmrfusion train-registration`` runs.

Data: Harvard slice-stack cases (:mod:`registration_pairs`), split by case, plus optional extra CT/MR pairs
with a known CT→MR transform (e.g. the MRI-DIR phantom registered by ``ctmrfusion register``). Each step draws
``batch_size`` random moved samples (:mod:`registration_samples`). Losses:

- ``intra`` (the seed's principle): :func:`intra_modality_loss.intra_modality_loss` — the prediction warps
  the moved MR back onto the MR and the CT onto the moved CT; MR↔MR and CT↔CT NCC only;
- ``direct`` (the ablation): mean squared error between predicted and true parameters of T⁻¹, angles in
  radians and translations in units of 50 mm;
- ``hybrid``: the sum of the two — the parameter term gives strong gradients far from the answer, where NCC
  of barely overlapping images says little; the intra-modality term judges the alignment of the images.

A curriculum grows the move range from 20 % to 100 % over the first ``curriculum`` share of the steps (NCC
gives weak gradients when the images barely overlap). Adam with a cosine learning-rate schedule;
``checkpoint.pt`` (resumable: model, optimiser, schedule, random states) and a validation line every
``validate_every`` steps: mean displacement error (mm, over the CT body points) of the prediction on fixed
random moves of the validation cases. The final model is what is exported (no checkpoint is picked on the
validation cases, so their numbers stay unbiased).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from CTMRFusionLib.datasets.atlas_slices import VALIDATION_CASES
from CTMRFusionLib.datasets.registration_pairs import harvard_pairs, transformed_pair
from CTMRFusionLib.deep_registration.loss import intra_modality_loss
from CTMRFusionLib.deep_registration.net import RegistrationNet
from CTMRFusionLib.deep_registration.samples import MoveRange, body_points, displacement_error, draw_sample, source_cube
from CTMRFusionLib.ml.training_loop import TrainingLoop
from CTMRFusionLib.ml.training_support import seed_everything

LOSSES = ("intra", "direct", "hybrid")
_DIRECT_SCALE = torch.tensor([1.0, 1.0, 1.0, 50.0, 50.0, 50.0])


@dataclass
class RegistrationTrainingConfig:
    data: str
    output: str
    extra_pairs: list = field(default_factory=list)  # [[name, ct, mr, ct_to_mr transform], ...]
    features: tuple = ("raw",)
    loss: str = "hybrid"
    width: int = 8
    grid_size: int = 40
    spacing_mm: float = 8.0
    steps: int = 1500
    curriculum: float = 0.3  # share of the steps over which the move range grows from 20 % to 100 %
    batch_size: int = 8
    learning_rate: float = 1e-3
    seed: int = 0
    validation_cases: tuple = VALIDATION_CASES
    validation_moves: int = 16  # fixed random moves per validation case
    validate_every: int = 100
    max_angle_deg: float = 60.0
    max_translation_mm: float = 60.0
    threads: int = 0
    stop_after: int = 0  # >0: stop (resumably) after this many steps, e.g. to train in sessions


def load_cubes(config: RegistrationTrainingConfig):
    """(training cubes, validation cubes) of source cubes with the configured features."""
    pairs = harvard_pairs(config.data)
    for name, ct, mr, transform in config.extra_pairs:
        pairs[name] = transformed_pair(
            name, sitk.ReadImage(str(ct)), sitk.ReadImage(str(mr)), sitk.ReadTransform(str(transform))
        )
    validation = {str(c) for c in config.validation_cases}
    unknown = validation - set(pairs)
    if unknown:
        raise ValueError(f"Validation case(s) {sorted(unknown)} not found; cases are {sorted(pairs)}.")
    cubes = {
        name: source_cube(pair, config.features, config.grid_size, config.spacing_mm) for name, pair in pairs.items()
    }
    return ([c for n, c in cubes.items() if n not in validation], [c for n, c in cubes.items() if n in validation])


def validation_samples(cubes, config: RegistrationTrainingConfig, seed: int = 1234):
    generator = torch.Generator().manual_seed(seed)
    moves = MoveRange(config.max_angle_deg, config.max_translation_mm)
    return [
        (cube.name, draw_sample(cube, generator, moves, augment=False, grid_size=config.grid_size))
        for cube in cubes
        for _ in range(config.validation_moves)
    ]


def evaluate(model, samples) -> dict:
    """Displacement errors (mm) of the predictions on fixed samples: per case and overall, before and after."""
    model.eval()
    errors, starts, per_case = [], [], {}
    with torch.no_grad():
        for name, sample in samples:
            predicted = model(sample.inputs[None])[0]
            points = body_points(sample)
            error = displacement_error(predicted.numpy(), sample.target.numpy(), sample.center, points)
            errors.append(error)
            starts.append(displacement_error(np.zeros(6), sample.target.numpy(), sample.center, points))
            per_case.setdefault(name, []).append(error)
    errors = np.array(errors)
    return {
        "mean_error_mm": float(errors.mean()),
        "median_error_mm": float(np.median(errors)),
        "within_10mm": float((errors < 10).mean()),
        "start_mean_error_mm": float(np.mean(starts)),
        "per_case_mean_error_mm": {k: float(np.mean(v)) for k, v in per_case.items()},
    }


def batch_loss(model, samples, loss: str) -> torch.Tensor:
    predicted = model(torch.stack([s.inputs for s in samples]))
    total = torch.zeros(())
    if loss in ("direct", "hybrid"):
        target = torch.stack([s.target for s in samples])
        total = total + (((predicted - target) / _DIRECT_SCALE) ** 2).mean()
    if loss in ("intra", "hybrid"):
        terms = [
            intra_modality_loss(s.ct, s.mr, s.ct_moved, s.mr_moved, s.grid, p[:3], p[3:], s.center)[0]
            for s, p in zip(samples, predicted)
        ]
        total = total + torch.stack(terms).mean()
    return total


def new_model(config: RegistrationTrainingConfig) -> RegistrationNet:
    return RegistrationNet(2 * len(config.features), config.width, config.grid_size)


def train(
    config: RegistrationTrainingConfig,
    log: Callable[[str], None] = print,
    show_progress: bool = True,
    resume: bool = False,
) -> dict:
    """Train (or resume) and return the history; writes checkpoint.pt, final.pt and history.json."""
    if config.loss not in LOSSES:
        raise ValueError(f"Unknown loss '{config.loss}'; use one of {LOSSES}.")
    if config.threads:
        torch.set_num_threads(config.threads)
    output = Path(config.output)
    generator = seed_everything(config.seed)
    train_cubes, validation_cubes = load_cubes(config)
    samples = validation_samples(validation_cubes, config)
    log(
        f"training cases {[c.name for c in train_cubes]}, validation cases {[c.name for c in validation_cubes]} "
        f"({len(samples)} fixed moves), features {list(config.features)}, loss {config.loss}"
    )

    model = new_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.steps, eta_min=config.learning_rate * 0.02
    )
    history = {
        "config": _config_dict(config),
        "train_cases": [c.name for c in train_cubes],
        "validation_cases": [c.name for c in validation_cubes],
    }
    loop = TrainingLoop(
        output, model, optimizer, scheduler, generator, total_steps=config.steps, round_steps=config.validate_every,
        scheduler_per_step=True, records_key="validations", stop_after=config.stop_after, log=log,
        show_progress=show_progress,
    )  # fmt: skip
    moves = MoveRange(config.max_angle_deg, config.max_translation_mm)

    def draw(scale: float):
        """One moved sample of a random training case (the case, then the move, from the seeded generator)."""
        cube = train_cubes[int(torch.randint(len(train_cubes), (1,), generator=generator))]
        return draw_sample(cube, generator, moves, grid_size=config.grid_size, scale=scale)

    def train_step(number: int, step: int) -> torch.Tensor:
        done = (number - 1) * config.validate_every + step  # steps before this one
        scale = min(1.0, 0.2 + 0.8 * done / max(1.0, config.curriculum * config.steps))
        batch = [draw(scale) for _ in range(config.batch_size)]
        return batch_loss(model, batch, config.loss)

    def validate(number: int, steps_done: int, train_loss: float) -> dict:
        return dict(evaluate(model, samples), step=steps_done)

    def report(record: dict) -> None:
        log(
            f"step {record['step']}/{config.steps}: train loss {record['train_loss']:.4f}, validation error "
            f"{record['mean_error_mm']:.1f} mm (median {record['median_error_mm']:.1f}, "
            f"{record['within_10mm']:.0%} < 10 mm; start {record['start_mean_error_mm']:.1f}), "
            f"{record['seconds']:.0f} s"
        )

    history, finished = loop.run(
        history, train_step, validate, report=report, resume=resume,
        label=lambda number, step, steps: f"step {(number - 1) * config.validate_every + step}/{config.steps}",
    )  # fmt: skip
    if finished:
        final = {"model": model.state_dict(), "config": _config_dict(config), "step": config.steps}
        torch.save(final, output / "final.pt")
    return history


def _config_dict(config: RegistrationTrainingConfig) -> dict:
    data = asdict(config)
    data["features"] = list(config.features)
    data["validation_cases"] = list(config.validation_cases)
    data["extra_pairs"] = [[str(v) for v in pair] for pair in config.extra_pairs]
    return data


def config_from_dict(values: dict) -> RegistrationTrainingConfig:
    values = dict(values)
    values["features"] = tuple(values["features"])
    values["validation_cases"] = tuple(values["validation_cases"])
    return RegistrationTrainingConfig(**values)
