"""Export of a trained deep registration network: TorchScript file + generated model card (needs torch)."""

from __future__ import annotations

from pathlib import Path

import torch

from CTMRFusionLib.deep_registration.model import export_registration_model
from CTMRFusionLib.deep_registration.training import config_from_dict, new_model
from CTMRFusionLib.ml.model_cards import HARVARD_ATLAS_TERMS, MRI_DIR_TERMS, file_record, write_record_and_card
from CTMRFusionLib.ml.training_support import cpu_description, shared_data_relative


def export_final(run_folder: Path, model_path: Path, history: dict) -> str:
    """Export ``run_folder/final.pt`` to ``model_path`` and write its card (same name, ``.md``); SHA-256."""
    final = torch.load(Path(run_folder) / "final.pt", weights_only=True)
    config = config_from_dict(final["config"])
    model = new_model(config)
    model.load_state_dict(final["model"])
    last = history["validations"][-1] if history["validations"] else {}
    metadata = {
        "features": list(config.features),
        "grid_size": config.grid_size,
        "spacing_mm": config.spacing_mm,
        "width": config.width,
        "loss": config.loss,
        "steps": final["step"],
        "max_angle_deg": config.max_angle_deg,
        "max_translation_mm": config.max_translation_mm,
        "validation": {k: v for k, v in last.items() if k.endswith("_mm") or k == "within_10mm"},
    }
    model_path = Path(model_path)
    digest = export_registration_model(model, model_path, metadata)
    record = {
        **file_record("registration", model_path, digest, model),
        "metadata": metadata,
        "history": {key: history[key] for key in ("config", "train_cases", "validation_cases", "train_seconds")},
        "machine": cpu_description(history["config"]["threads"] or torch.get_num_threads()),
    }
    write_record_and_card(model_path, record)
    return digest


def _command(config: dict, model_name: str) -> str:
    pairs = "".join(
        f" \\\n    --pair {name} {shared_data_relative(ct)} {shared_data_relative(mr)} RUN_FOLDER/{Path(t).name}"
        for name, ct, mr, t in config["extra_pairs"]
    )
    return (
        f"ctmrfusion train-registration --data {shared_data_relative(config['data'])} --out RUN_FOLDER{pairs}"
        f" \\\n    --features {','.join(config['features'])} --loss {config['loss']} --width {config['width']}"
        f" --grid-size {config['grid_size']} --spacing {config['spacing_mm']:g}"
        f" --steps {config['steps']} --curriculum {config['curriculum']:g} --batch-size {config['batch_size']}"
        f" --lr {config['learning_rate']:g}"
        f" \\\n    --seed {config['seed']} --validation-cases {','.join(config['validation_cases'])}"
        f" --max-angle {config['max_angle_deg']:g} --max-translation {config['max_translation_mm']:g}"
        f" --threads {config['threads']} --export {model_name}"
    )


def render_card(record: dict) -> str:
    """The model card (Markdown) of a registration network's training record."""
    history, metadata, parameters = record["history"], record["metadata"], record["parameters"]
    digest, model_path = record["sha256"], Path(record["model_file"])
    config = history["config"]
    validation = metadata["validation"]
    per_case = ", ".join(f"case {k} {v:.1f} mm" for k, v in validation.get("per_case_mean_error_mm", {}).items())
    size_mb = record["size_bytes"] / 1e6
    register_steps = [
        f"ctmrfusion register --ct {shared_data_relative(ct)} --mr {shared_data_relative(mr)} "
        f"--transform RUN_FOLDER/{Path(t).name}"
        for _, ct, mr, t in config["extra_pairs"]
    ]
    lines = [
        f"# Model card: {model_path.name}",
        "",
        "Deep CT–MR registration initializer of CTMRFusion (TorchScript). Produced by",
        "`ctmrfusion train-registration`; this card is generated from its training record",
        f"(`{model_path.with_suffix('.record.json').name}`).",
        "",
        "## What it does",
        "Given a CT and an MR already resampled onto the network grid through a start transform "
        f"({metadata['grid_size']}³ voxels of",
        f"{metadata['spacing_mm']:g} mm, LPS-aligned, centred on the CT body centroid), it predicts the rigid "
        "correction"
        " P (Euler3D: angles",
        "about LPS x, y, z in ITK Z-X-Y order, rad; translation, mm; about the grid centre), mapping CT points to",
        'points of the resampled MR. `registerVolumes(..., initializer="deep")` applies it (twice, from the start '
        "and from six",
        "starts turned by ±30°), polishes its answers with the orientation search's local stages, then runs the "
        "Mattes-MI refinement. Intensities: CT −100…200 HU → 0…1; MR 99.5th body percentile → 240/255;",
        f"feature channels per modality: {', '.join(metadata['features'])} "
        "(`CTMRFusionLib/deep_registration/grid.py`).",
        "",
        "## Architecture",
        f"3D CNN: five stride-2 blocks (3×3×3 conv, instance norm, leaky ReLU), widths {config['width']}×(1, 2, 4, 8,"
        f" 16); the 2³ map flattened → 128 → 6, tanh-scaled to ±90° / ±100 mm. {parameters:,} parameters,"
        f" {size_mb:.1f} MB.",
        "",
        "## Data",
        "Harvard Whole Brain Atlas CT / MR-T2 cases as coarse 3D slice stacks (assumed 0.9 × 0.9 × 6 mm;",
        "co-registered by construction)"
        + (
            " and the MRI-DIR porcine phantom pair aligned by CTMRFusion's own registration."
            if config["extra_pairs"]
            else "."
        ),
        f"Training cases: {', '.join(history['train_cases'])}. Validation cases (never trained on): "
        f"{', '.join(history['validation_cases'])}.",
        f"Moves: uniform ±{config['max_angle_deg']:g}° about each axis and ±{config['max_translation_mm']:g} mm along"
        " each, about the body centroid jittered ±10 mm. Augmentation of the network input: gamma, contrast,",
        "noise, cut fields of view (`CTMRFusionLib/deep_registration/samples.py`).",
        HARVARD_ATLAS_TERMS,
        *([MRI_DIR_TERMS] if config["extra_pairs"] else []),
        "",
        "## Training",
        "Loss: "
        + {
            "intra": "the seed's intra-modality similarity — the prediction warps the moved MR back onto the MR and"
            " the CT onto the moved CT, scored by 1 − NCC (MR↔MR + CT↔CT); no CT↔MR metric.",
            "direct": "direct parameter supervision (MSE on the 6 parameters, translations in units of 50 mm).",
            "hybrid": "the seed's intra-modality similarity (the prediction warps the moved MR back onto the MR and"
            " the CT onto the moved CT, 1 − NCC, MR↔MR + CT↔CT; no CT↔MR metric) plus direct parameter"
            " supervision (MSE on the 6 parameters, translations in units of 50 mm).",
        }[config["loss"]],
        f"Adam, learning rate {config['learning_rate']:g} with a cosine schedule to 2 %; batch {config['batch_size']};"
        f" {metadata['steps']} steps; seed {config['seed']}; the final weights are exported (no selection on the"
        " validation cases).",
        f"Training time: {history['train_seconds'] / 60:.1f} min on the CPU ({record['machine']}).",
        "",
        "Reproduce (from the repository root):",
        "```bash",
        *register_steps,
        _command(config, model_path.name),
        "```",
        "",
        "## Validation (network alone, fixed random moves of the validation cases, no MI refinement)",
        f"Mean displacement error over the CT body: {validation.get('start_mean_error_mm', float('nan')):.1f} mm at "
        f"the start → {validation.get('mean_error_mm', float('nan')):.1f} mm after one pass (median "
        f"{validation.get('median_error_mm', float('nan')):.1f} mm; {validation.get('within_10mm', 0):.0%} within "
        "10 mm;"
        f" {per_case}).",
        "Capture range with the MI refinement: `docs/deep_registration.md`.",
        "",
        "## Integrity",
        f"SHA-256: `{digest}` — checked by `load_registration_model()` before the file is run.",
        "",
        "## Intended use and limits",
        "An initializer for the rigid Mattes-MI registration of head CT and MR, not a registration on its own:",
        "its remaining errors (about 15 mm on average, more for the largest starts) are for the MI",
        "refinement to remove. Trained on brain slice stacks and one head",
        "phantom; starts beyond ±60° / ±60 mm, flipped patient orientations (use the 'search' initializer) and",
        "other anatomy are outside what it saw.",
        "",
    ]
    return "\n".join(lines)
