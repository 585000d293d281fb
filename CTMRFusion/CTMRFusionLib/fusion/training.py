"""Training the fusion U-Net on CT/MR slice pairs (needs torch); what ``ctmrfusion train-fusion`` runs.

Data: a folder with ``CT/`` and ``MRI/`` PNG slices named ``<case><3-digit slice>.png`` (the Harvard layout,
see :mod:`slice_pairs`), split by case into training and validation; supervised mode also needs a folder of
fused targets with the same file names. Distillation mode learns a teacher model's outputs (float, on whole
slices, cropped and turned with them; loss :func:`~CTMRFusionLib.fusion.losses.distillation_loss`), e.g. a
single-pass student learning the flip-averaged shipped model. Training uses random crops, flips and 90°
rotations, Adam and a cosine learning-rate schedule; it writes ``checkpoint.pt`` (resumable: model,
optimiser, schedule, random states) after every epoch, ``best.pt`` at the lowest validation loss, and ``history.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.datasets import atlas_slices as slice_pairs
from CTMRFusionLib.fusion import rules as fusion_rules
from CTMRFusionLib.fusion.evaluation import method_means
from CTMRFusionLib.fusion.losses import LossWeights, distillation_loss, supervised_loss, unsupervised_loss
from CTMRFusionLib.fusion.model import FusionModel, export_torchscript, load_fusion_model
from CTMRFusionLib.fusion.pipeline import fuse_stacks
from CTMRFusionLib.fusion.unet import FusionUNet
from CTMRFusionLib.ml.model_cards import file_record, load_record, record_path, write_record_and_card
from CTMRFusionLib.ml.torchscript import read_scripted
from CTMRFusionLib.ml.training_loop import TrainingLoop
from CTMRFusionLib.ml.training_support import (
    cpu_description,
    load_plain,
    seed_everything,
)

MODES = ("unsupervised", "supervised", "distillation")


@dataclass
class TrainingConfig:
    data: str
    output: str
    mode: str = "unsupervised"  # or "supervised" (needs ``targets``) or "distillation" (needs ``teacher``)
    targets: str | None = None
    teacher: str | None = None  # distillation: TorchScript fusion model whose outputs are the targets
    fusion_share: float = 0.0  # distillation: weight of the unsupervised fusion loss (``weights``) added to it
    width: int = 16
    epochs: int = 60
    batch_size: int = 8
    crop: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    validation_cases: tuple = slice_pairs.VALIDATION_CASES
    weights: LossWeights = field(default_factory=LossWeights)
    threads: int = 0  # 0: torch's default
    limit_slices: int = 0  # >0: use only this many training slices (smoke tests)
    init_from: str | None = None  # start from these weights (a TorchScript fusion model or a best.pt)
    flip_average: bool = False  # final validation metrics and export average the 4 flips (see fusion_unet)


def _load_split(config: TrainingConfig):
    pairs = slice_pairs.find_pairs(config.data)
    train, validation = slice_pairs.split_by_case(pairs, config.validation_cases)
    if not train or not validation:
        raise ValueError(
            f"Split by case left train={len(train)} and validation={len(validation)} slices; "
            f"cases present: {sorted(slice_pairs.cases(pairs))}."
        )
    if config.limit_slices:
        train, validation = train[: config.limit_slices], validation[: max(1, config.limit_slices // 2)]
    teacher = load_teacher(config) if config.mode == "distillation" else None

    def tensors(subset):
        ct, mr = slice_pairs.load_arrays(subset)
        stack = [ct, mr]
        if config.mode == "supervised":
            if not config.targets:
                raise ValueError("Supervised training needs --targets (fused images named like the CT slices).")
            stack.append(np.stack([slice_pairs.read_grey_png(Path(config.targets) / p.ct_path.name) for p in subset]))
        elif config.mode == "distillation":
            stack.append(teacher.fuse(ct.astype(np.float32), mr.astype(np.float32)))
        if config.mode != "supervised" and config.weights.rivals:
            stack.extend(rival_images(ct, mr))
        return torch.from_numpy(np.stack(stack, axis=1).astype(np.float32) / 255.0)

    return tensors(train), tensors(validation), sorted({p.case for p in train}), sorted({p.case for p in validation})


def load_teacher(config: TrainingConfig) -> FusionModel:
    """The checked TorchScript model distillation learns from (``config.teacher``), on the CPU."""
    if not config.teacher:
        raise ValueError("Distillation needs --teacher (the TorchScript fusion model to learn from).")
    return load_fusion_model(config.teacher, "cpu")


def rival_images(ct: np.ndarray, mr: np.ndarray) -> list[np.ndarray]:
    """The classic rules' fused stacks (one per rule of ``fusion_rules.RULES``) of (n, H, W) 0–255 stacks,
    for the ``rivals`` loss; fused on the whole slices, then cropped and turned with them."""
    ct, mr = ct.astype(np.float32), mr.astype(np.float32)
    return [np.clip(fuse_stacks(ct, mr, method), 0, 255) for method in fusion_rules.RULES]


def _augment(batch: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = batch.shape
    crop = min(crop, h, w)
    out = []
    for item in batch:
        top = int(torch.randint(0, h - crop + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - crop + 1, (1,), generator=generator))
        item = item[:, top : top + crop, left : left + crop]
        if torch.rand(1, generator=generator) < 0.5:
            item = item.flip(-1)
        item = torch.rot90(item, int(torch.randint(0, 4, (1,), generator=generator)), dims=(-2, -1))
        out.append(item)
    return torch.stack(out)


def _loss(model, batch, config):
    fused = model(batch[:, :2])
    if config.mode == "supervised":
        return supervised_loss(fused, batch[:, 2:3])
    if config.mode == "distillation":
        loss, terms = distillation_loss(fused, batch[:, 2:3], batch[:, :1], batch[:, 1:2], config.weights)
        if config.fusion_share:
            fusion, fusion_terms = unsupervised_loss(fused, batch[:, :1], batch[:, 1:2], config.weights, batch[:, 3:])
            loss, terms = (
                loss + config.fusion_share * fusion,
                {**terms, **{f"fusion_{k}": v for k, v in fusion_terms.items()}},
            )
        return loss, terms
    return unsupervised_loss(fused, batch[:, :1], batch[:, 1:2], config.weights, rivals=batch[:, 2:])


def validation_metrics(model, validation: torch.Tensor) -> dict:
    """Mean of the eight fusion metrics over the validation slices (0–255 scale), as the benchmark computes them."""
    model.eval()
    wrapped = FusionModel(model, "cpu", {}, "", Path())
    stacks = validation[:, :2].numpy() * 255.0
    return method_means(stacks[:, 0], stacks[:, 1], ["unet"], wrapped)["unet"]


def train(
    config: TrainingConfig, log: Callable[[str], None] = print, show_progress: bool = True, resume: bool = False
) -> dict:
    """Train (or resume) and return the history; see the module docstring for the files written."""
    if config.mode not in MODES:
        raise ValueError(f"Unknown training mode '{config.mode}'; use one of {', '.join(MODES)}.")
    if config.threads:
        torch.set_num_threads(config.threads)
    output = Path(config.output)
    generator = seed_everything(config.seed)
    train_set, validation_set, train_cases, validation_cases = _load_split(config)
    log(
        f"training cases {train_cases} ({len(train_set)} slices), validation cases {validation_cases} "
        f"({len(validation_set)} slices), mode {config.mode}, width {config.width}"
    )

    model = FusionUNet(config.width)
    if config.init_from:
        model.load_state_dict(initial_weights(config.init_from, config.width))
        log(f"starting from the weights of {config.init_from}")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs, eta_min=config.learning_rate * 0.02
    )
    history = {
        "config": _config_dict(config),
        "train_cases": train_cases,
        "validation_cases": validation_cases,
        "train_slices": len(train_set),
        "validation_slices": len(validation_set),
    }
    steps = max(1, len(train_set) // config.batch_size)
    loop = TrainingLoop(
        output, model, optimizer, scheduler, generator, total_steps=config.epochs * steps, round_steps=steps,
        scheduler_per_step=False, records_key="epochs", best_key="validation_loss", log=log,
        show_progress=show_progress,
    )  # fmt: skip
    order = {}

    def start_epoch(epoch: int) -> None:
        order["slices"] = torch.randperm(len(train_set), generator=generator)

    def train_step(epoch: int, step: int) -> torch.Tensor:
        chosen = order["slices"][step * config.batch_size : (step + 1) * config.batch_size]
        return _loss(model, _augment(train_set[chosen], config.crop, generator), config)[0]

    def validate(epoch: int, steps_done: int, train_loss: float) -> dict:
        with torch.no_grad():
            losses = [
                float(_loss(model, validation_set[i : i + 8], config)[0]) for i in range(0, len(validation_set), 8)
            ]
        return {"epoch": epoch, "validation_loss": float(np.mean(losses))}

    def save_best(epoch: int, record: dict) -> None:
        torch.save({"model": model.state_dict(), "width": config.width, "epoch": epoch}, output / "best.pt")

    def report(record: dict) -> None:
        log(
            f"epoch {record['epoch']}/{config.epochs}: train loss {record['train_loss']:.4f}, validation loss "
            f"{record['validation_loss']:.4f}, lr {record['learning_rate']:.2e}, {record['seconds']:.1f} s"
        )

    history, _ = loop.run(
        history, train_step, validate, start_epoch, save_best, report, resume,
        label=lambda epoch, step, steps: f"epoch {epoch}/{config.epochs}",
    )  # fmt: skip

    best = torch.load(output / "best.pt", weights_only=True)
    model.load_state_dict(best["model"])
    model.flip_average = config.flip_average
    history["validation_metrics"] = validation_metrics(model, validation_set)
    if config.mode == "distillation":
        history["teacher_validation_metrics"] = validation_metrics(load_teacher(config).module, validation_set)
    parents = parent_chain(config.init_from) if config.init_from else []
    history["chain"] = [
        *parents,
        {"run": output.name, "config": history["config"], "train_seconds": history["train_seconds"]},
    ]
    measured = ", ".join(f"{k} {v:.3f}" for k, v in history["validation_metrics"].items())
    log(f"validation metrics (best epoch {history['best_round']}): {measured}")
    (output / "history.json").write_text(json.dumps(history, indent=1))
    return history


def initial_weights(path, width: int) -> dict:
    """State dict to fine-tune from: a ``best.pt``/``checkpoint.pt`` of this trainer or an exported TorchScript
    fusion model (the shipped one included); its width must be ``width``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init-from: no file {path}")
    state = None
    try:
        state = read_scripted(path, torch)[0].state_dict()
    except RuntimeError:
        try:
            saved = load_plain(path, "--init-from")
            state = saved.get("model", saved)
        except InvalidInputError:
            state = None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"--init-from: {path} holds neither a TorchScript model nor a training checkpoint")
    expected = FusionUNet(width).state_dict()
    if {k: tuple(v.shape) for k, v in state.items()} != {k: tuple(v.shape) for k, v in expected.items()}:
        raise ValueError(f"--init-from: the weights in {path} are not those of a width-{width} fusion U-Net")
    return state


def _config_dict(config: TrainingConfig) -> dict:
    data = asdict(config)
    data["validation_cases"] = list(config.validation_cases)
    return data


def parent_chain(path) -> list[dict]:
    """The chain of runs behind the weights at ``path``: the ``history.json`` beside a run's ``best.pt``, or an
    exported model's metadata, or else its training record (``<name>.record.json``, which the shipped models
    exported before the metadata carried the chain have); [] when it is unknown."""
    path = Path(path)
    history = path.parent / "history.json"
    if path.suffix == ".pt" and history.is_file():
        return json.loads(history.read_text()).get("chain", [])
    try:
        chain = read_scripted(path, torch)[1].get("chain", [])
    except (RuntimeError, ValueError):
        chain = []
    if not chain and record_path(path).is_file():
        chain = load_record(path).get("chain", [])
    return chain


def teacher_step(chain: list[dict], index: int) -> dict | None:
    """The run of ``chain`` whose model the distillation run at ``index`` learns from: the last run before it that
    is not itself a distillation (a student fine-tuned in several runs keeps one teacher); None when the run at
    ``index`` is no distillation or no such run precedes it."""
    if chain[index]["config"].get("mode") != "distillation":
        return None
    for step in reversed(chain[:index]):
        if step["config"].get("mode") != "distillation":
            return step
    return None


def export_best(run_folder: Path, model_path: Path, history: dict) -> str:
    """Export ``run_folder/best.pt`` as TorchScript to ``model_path``, with its training record and the model
    card generated from it beside it (``.record.json``, ``.md``); returns the model's SHA-256."""
    best = torch.load(run_folder / "best.pt", weights_only=True)
    config = history["config"]
    model = FusionUNet(best["width"], flip_average=bool(config.get("flip_average", False)))
    model.load_state_dict(best["model"])
    metadata = {
        "width": best["width"],
        "epoch": best["epoch"],
        "mode": config["mode"],
        "flip_average": model.flip_average,
        "validation_metrics": history.get("validation_metrics", {}),
        "scale": "0-1 = grey level / 255",
        "chain": history["chain"],
    }
    model_path = Path(model_path)
    digest = export_torchscript(model, model_path, metadata)
    record = {
        **file_record("fusion", model_path, digest, model),
        "width": best["width"],
        "best_epoch": best["epoch"],
        "flip_average": model.flip_average,
        "validation_metrics": metadata["validation_metrics"],
        **({"teacher_validation_metrics": history["teacher_validation_metrics"]} if config.get("teacher") else {}),
        **{key: history[key] for key in ("train_cases", "validation_cases", "train_slices", "validation_slices")},
        "machine": cpu_description(config["threads"] or torch.get_num_threads()),
        "chain": history["chain"],
    }
    write_record_and_card(model_path, record)
    return digest
