"""Model cards are generated, never written by hand: each shipped model has a training record beside it.

``<model>.record.json`` holds everything its card says (hash, size, parameters, data split, training
configuration and the chain of runs, validation numbers, machine); the model's task names the renderer that
turns the record into ``<model>.md``. Exporting a model writes both; ``Testing/ml`` regenerates every shipped
card from its record and compares.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

#: Where the training images come from and on what terms, as every card that used them says it.
HARVARD_ATLAS_TERMS = (
    "Source: the Harvard Whole Brain Atlas (AANLIB; K. A. Johnson and J. A. Becker, Harvard Medical School), "
    "as redistributed by public CT–MR fusion benchmarks. Terms: no open licence is stated for these images; they "
    "are used for research, and the weights trained on them are shipped for research use. The images themselves "
    "are not shipped."
)
MRI_DIR_TERMS = (
    "Source: TCIA MRI-DIR porcine phantom (Ger R.B. et al., Med Phys 2018, doi:10.1002/mp.13090; data "
    "doi:10.7937/K9/TCIA.2018.3f08iejt). Terms: CC BY 4.0 (attribution)."
)

#: Task → "module:function" that renders a card from a record (imported when used: both need torch).
RENDERERS = {
    "fusion": "CTMRFusionLib.fusion.model_card:render_card",
    "registration": "CTMRFusionLib.deep_registration.export:render_card",
}


def record_path(model_path) -> Path:
    """Where a model's training record lies: beside it, ``<name>.record.json``."""
    return Path(model_path).with_suffix(".record.json")


def file_record(task: str, model_path, digest: str, model) -> dict:
    """The part of a training record every task shares: task, file name, SHA-256, size (bytes) and the number
    of trainable parameters of ``model`` (a torch module) exported to ``model_path``."""
    model_path = Path(model_path)
    return {
        "task": task,
        "model_file": model_path.name,
        "sha256": digest,
        "size_bytes": model_path.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def render(record: dict) -> str:
    """The card of a training record, by the renderer of its task."""
    module, function = RENDERERS[record["task"]].split(":")
    return getattr(import_module(module), function)(record)


def write_record_and_card(model_path, record: dict) -> Path:
    """Write ``record`` and the card rendered from it beside the model; the card's path."""
    model_path = Path(model_path)
    card = model_path.with_suffix(".md")
    record_path(model_path).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    card.write_text(render(record))
    return card


def load_record(model_path) -> dict:
    return json.loads(record_path(model_path).read_text())
