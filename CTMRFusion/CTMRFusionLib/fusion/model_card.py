"""The fusion U-Net's model card, generated from its training record (never written by hand).

The record (``<model>.record.json`` beside the model, written by ``ctmrfusion train-fusion --export``) holds what
the card says: the file's hash and size, the architecture's width and parameter count, the data split, the
validation metrics, the machine, and the **chain** of training runs that made the weights — one step per run,
each with its full training configuration, the first from scratch and each later one fine-tuning the previous
run's ``best.pt``. :func:`render_card` turns a record into the card's Markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

from CTMRFusionLib.fusion.evaluation import (
    fold_averages,
    fold_summary,
    metrics_beaten_by_rule,
    metrics_won,
    percent_differences,
)
from CTMRFusionLib.fusion.losses import LossWeights
from CTMRFusionLib.fusion.training import teacher_step
from CTMRFusionLib.ml.model_cards import HARVARD_ATLAS_TERMS
from CTMRFusionLib.ml.training_support import shared_data_relative


def loss_settings_text(weights: dict) -> str:
    """The loss settings for a model card: numbers that are not 0, switches that are on, and the rivals term's
    metrics and margin only when that term is used; the teacher floor (distillation only) is described apart."""
    shown = []
    for key, value in weights.items():
        if (key.startswith("rival_") and not weights.get("rivals")) or key.startswith("teacher_"):
            continue
        if isinstance(value, str):
            shown.append(f"{key} {value}")
        elif value is True:
            shown.append(key)
        elif value:
            shown.append(f"{key} {value:g}")
    return ", ".join(shown)


def _changed_weights(weights: dict) -> dict:
    defaults = LossWeights().as_dict()
    return {key: value for key, value in weights.items() if defaults.get(key) != value}


def step_command(step: dict, previous: dict | None, export: str | None, teacher: str | None = None) -> str:
    """The ``ctmrfusion train-fusion`` command of one chain step (``--init-from`` the previous step's best.pt;
    a distillation step's ``--teacher`` is ``teacher`` when given, else the recorded path)."""
    config = step["config"]
    parts = [
        f"ctmrfusion train-fusion --data {shared_data_relative(config['data'])} --out runs/{step['run']}",
        f"--mode {config['mode']} --width {config['width']} --epochs {config['epochs']} "
        f"--batch-size {config['batch_size']} --crop {config['crop']}",
        f"--lr {config['learning_rate']:g} --seed {config['seed']} "
        f"--validation-cases {','.join(config['validation_cases'])} --threads {config['threads']}",
        f"--loss-weights '{json.dumps(_changed_weights(config['weights']))}'",
    ]
    if config.get("targets"):
        parts.insert(1, f"--targets {config['targets']}")
    if config.get("teacher"):
        parts.insert(
            1,
            f"--teacher {teacher or config['teacher']}"
            + (f" --fusion-share {config['fusion_share']:g}" if config.get("fusion_share") else ""),
        )
    if previous is not None:
        parts.insert(1, f"--init-from runs/{previous['run']}/best.pt")
    if config.get("flip_average"):
        parts.append("--flip-average")
    if export:
        parts.append(f"--export {export}")
    return " \\\n    ".join(parts)


def _training_time(record: dict) -> str:
    chain = record["chain"]
    last = chain[-1].get("train_seconds")
    if len(chain) == 1:
        return f"Training time: {last / 60:.1f} min on the CPU ({record['machine']})."
    epochs = sum(step["config"]["epochs"] for step in chain)
    seconds = [step.get("train_seconds") for step in chain]
    total = record.get("chain_train_seconds") or (None if None in seconds else sum(seconds))
    if total is None:  # some run of the chain was not timed
        return f"Training time: {last / 60:.1f} min for the last fine-tune below, on the CPU ({record['machine']})."
    return (
        f"Training time: {last / 60:.1f} min for the last fine-tune below, {total / 60:.1f} min for the whole chain "
        f"({epochs} epochs) on the CPU ({record['machine']})."
    )


def _loss_text(config: dict) -> str:
    if config["mode"] == "distillation":
        return (
            f"Mode: distillation. Targets: the outputs of the teacher `{Path(config['teacher']).name}` on whole "
            "slices; loss mean |F − T| + "
            "1 − SSIM(F, T) + mean |∇F − ∇T| (Sobel)"
            + (
                f", plus {config['fusion_share']:g} × the unsupervised fusion loss with settings "
                f"{loss_settings_text(config['weights'])}"
                if config.get("fusion_share")
                else ""
            )
            + _teacher_floor_text(config["weights"])
            + " (see `CTMRFusionLib/fusion/losses.py`)."
        )
    return (
        f"Mode: {config['mode']}. Loss settings: {loss_settings_text(config['weights'])} "
        "(see `CTMRFusionLib/fusion/losses.py`)."
    )


def _teacher_floor_text(weights: dict) -> str:
    if not weights.get("teacher_floor"):
        return ""
    return (
        f", plus {weights['teacher_floor']:g} × how far F's metrics ({weights['teacher_metrics']}) fall short of the "
        f"teacher's on the same crops (relative, asking for a lead of {weights.get('teacher_margin', 0):g})"
    )


def _teacher_rows(record: dict) -> list[str]:
    """Table rows comparing a distilled model's metrics with its teacher's (none for other models)."""
    teacher = record.get("teacher_validation_metrics")
    if not teacher:
        return []
    metrics = record["validation_metrics"]
    return [
        "| " + " | ".join(f"{v:.3f}" for v in teacher.values()) + " |",
        "| " + " | ".join(percent_differences(metrics, teacher).values()) + " |",
        "",
        "Rows: this model (single pass); its teacher (flip-averaged, four passes); this model's difference.",
    ]


def recorded_fold_means(folds: dict, model: str = "model") -> list[dict]:
    """One {method: {metric: mean}} per measured fold from a record's ``cross_validation``: the recipe's model
    (under the name ``model``), the classic rules and, when recorded, the reference (under its own name)."""
    per_fold = [
        {model: means, **{r: v[i] for r, v in folds["rules"].items()}} for i, means in enumerate(folds["model"])
    ]
    reference = folds.get("reference")
    if reference:
        for entry, values in zip(per_fold, reference["values"]):
            entry[reference["name"]] = values
    return per_fold


def cross_validation_lines(record: dict) -> list[str]:
    """The card's k-fold section, from the record's ``cross_validation`` (written by
    ``Testing/benchmarks/benchmark_fusion_folds.py --record``): this recipe's metric means per measured fold,
    their mean ± SD, the classic rules' fold averages, and what the model wins on the fold average."""
    folds = record.get("cross_validation")
    if not folds:
        return []
    measured, names = folds["measured_folds"], list(folds["model"][0])
    reference = folds.get("reference")
    summary = fold_summary(recorded_fold_means(folds))
    averages = fold_averages(summary)
    rules = list(folds["rules"])
    cases = "; ".join(f"fold {i}: {', '.join(folds['folds'][i - 1])}" for i in measured)
    lines = [
        "",
        "## k-fold validation by case",
        "The recipe above, retrained for each fold with the fold's validation cases held out of every run of the",
        "chain (`Testing/benchmarks/train_fusion_folds.py`; the first fold's model is this file). Measured on",
        f"{len(measured)} of {len(folds['folds'])} folds ({cases}) by `{folds['script']}`: each fold's mean over",
        "its validation slices, then the mean over the folds (each weighs the same) ± the SD across them.",
        "",
        "| fold | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 1),
        *(
            f"| {i} | " + " | ".join(f"{values[n]:.4f}" for n in names) + " |"
            for i, values in zip(measured, folds["model"])
        ),
        "| mean ± SD | "
        + " | ".join(f"{summary['model'][n][0]:.4f} ± {summary['model'][n][1]:.4f}" for n in names)
        + " |",
        *(f"| {rule} (mean) | " + " | ".join(f"{averages[rule][n]:.4f}" for n in names) + " |" for rule in rules),
    ]
    if reference:
        name = reference["name"]
        lines.append(
            f"| vs {name} | " + " | ".join(percent_differences(averages["model"], averages[name]).values()) + " |"
        )
    won = metrics_won(averages, "model", rules)
    beaten = metrics_beaten_by_rule(averages, "model", rules)
    lines += [
        "",
        f"On the fold average it is above every classic rule on {len(won)} of {len(names)} metrics"
        + (f" ({', '.join(won)})" if won else "")
        + "; against each rule alone on "
        + ", ".join(f"{len(beaten[rule])} ({rule})" for rule in rules)
        + "."
        + (f" The last row compares it with {reference['description']}." if reference else ""),
    ]
    return lines


def render_card(record: dict) -> str:
    """The model card (Markdown) of a fusion model's training record."""
    chain = record["chain"]
    config = chain[-1]["config"]
    width = record["width"]
    metrics = record["validation_metrics"]
    flips = record["flip_average"]
    teachers = {index: teacher_step(chain, index) for index in range(len(chain))}
    taught = {id(step) for step in teachers.values() if step is not None}  # runs a later run learns from
    commands = []
    for index, step in enumerate(chain):
        if step is chain[-1]:
            export = record["model_file"]
        elif id(step) in taught:  # exported as it is (flip-averaged or not) for the distillation run(s) after it
            export = f"runs/{step['run']}/teacher.pt"
        else:
            export = None
        teacher = f"runs/{teachers[index]['run']}/teacher.pt" if teachers[index] else None
        commands.append(step_command(step, chain[index - 1] if index else None, export, teacher))
    lines = [
        f"# Model card: {record['model_file']}",
        "",
        "CT–MR fusion U-Net of CTMRFusion (TorchScript). Produced by `ctmrfusion train-fusion`; this card is",
        "generated from its training record (`" + record["model_file"].replace(".pt", ".record.json") + "`).",
        "",
        "## Architecture",
        "U-Net, 2 input channels (CT, MR) → 1 fused channel, all in [0, 1] (grey level / 255). 5 encoder blocks",
        "(two 3×3 conv + ReLU; 2× max-pool before blocks 2–5) and 4 decoder blocks (bilinear 2× upsampling,",
        f"skip concatenation, two 3×3 conv + ReLU), 1×1 conv + sigmoid. Base width {width}: channels",
        f"{width}/{2 * width}/{4 * width}/{8 * width}/{8 * width}; {record['parameters']:,} parameters, "
        f"{record['size_bytes'] / 1e6:.1f} MB. Any input size (reflect-padded to a multiple of 16).",
        *(
            [
                "Flip averaging: the output is the mean of the network run on the slice and on its left–right, up–down",
                "and doubly mirrored images (each output mirrored back); 4× the inference time of one pass.",
            ]
            if flips
            else ["Single pass: one network run per slice."]
        ),
        "",
        "## Data",
        "Harvard Whole Brain Atlas CT / MR-T2 slice pairs (256×256, 8-bit, co-registered), split by case:",
        f"training cases {', '.join(record['train_cases'])} ({record['train_slices']} slices); validation cases "
        f"{', '.join(record['validation_cases'])} ({record['validation_slices']} slices).",
        f"Augmentation: random crops of {config['crop']}², horizontal flips, 90° rotations.",
        HARVARD_ATLAS_TERMS,
        "",
        "## Training",
        _loss_text(config),
        f"Adam, initial learning rate {config['learning_rate']:g}, cosine schedule to 2 % of it; batch "
        f"{config['batch_size']}; {config['epochs']} epochs, best validation loss at epoch {record['best_epoch']}; "
        f"seed {config['seed']}.",
        _training_time(record),
        "",
        "Reproduce"
        + (
            f" (a chain of {len(chain)} runs, each fine-tuning the previous run's `best.pt`):"
            if len(chain) > 1
            else ":"
        ),
        "```bash",
        *commands,
        "```",
        "oneDNN's CPU convolutions are not bitwise reproducible, so a rerun ends close to, not exactly at, these",
        "weights; the validation metrics below are those of this file.",
        "",
        "## Validation metrics (mean over the validation slices, 0–255 scale"
        + (", with flip averaging)" if flips else ")"),
        "| " + " | ".join(metrics) + " |",
        "|" + "---|" * len(metrics),
        "| " + " | ".join(f"{v:.3f}" for v in metrics.values()) + " |",
        *_teacher_rows(record),
        "",
        "EN and MI in bits; definitions in `CTMRFusionLib/fusion/metrics.py`; comparison with the classic rules",
        "in `docs/fusion.md`.",
        *cross_validation_lines(record),
        "",
        "## Integrity",
        f"SHA-256: `{record['sha256']}` — checked by `load_fusion_model()` before the file is run.",
        "",
        "## Intended use and limits",
        "Research and visual inspection of registered CT/MR pairs, not diagnosis. Trained on brain slices only;",
        "other anatomy is fused slice by slice with the same intensity mapping and may look different.",
        "",
    ]
    return "\n".join(lines)
