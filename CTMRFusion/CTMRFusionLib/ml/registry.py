"""The shipped models as data: ``Resources/Models/models.json``, one entry per network.

Each entry names the model, its task, its TorchScript file, the file's SHA-256 (checked on every load), the
metadata ``kind`` the file must carry, its input and output, and its model card. One loader
(:func:`CTMRFusionLib.ml.torchscript.load_model`) serves every entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from CTMRFusionLib.resources import resource_path

REGISTRY_FILE = "models.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelEntry:
    """One shipped network: ``file`` and ``card`` are names inside ``Resources/Models``."""

    name: str
    task: str
    file: str
    sha256: str
    kind: str
    input: str
    output: str
    card: str

    @property
    def path(self) -> Path:
        return resource_path("Models", self.file)

    @property
    def card_path(self) -> Path:
        return resource_path("Models", self.card)


def _entry(values: dict) -> ModelEntry:
    names = [f.name for f in fields(ModelEntry)]
    missing = [n for n in names if not isinstance(values.get(n), str) or not values.get(n)]
    unknown = sorted(set(values) - set(names))
    if missing or unknown:
        raise ValueError(f"{REGISTRY_FILE}: entry {values.get('name', '?')!r}: missing {missing}, unknown {unknown}")
    sha = values["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"{REGISTRY_FILE}: entry {values['name']!r}: sha256 must be 64 lower-case hex digits")
    return ModelEntry(**{n: values[n] for n in names})


@cache
def load_registry(path: Path | None = None) -> dict[str, ModelEntry]:
    """{name: entry} of the registry file (the shipped one by default), validated; ValueError names a problem."""
    path = path or resource_path("Models", REGISTRY_FILE)
    document = json.loads(Path(path).read_text())
    if document.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {document.get('schema_version')!r}; expected {SCHEMA_VERSION}")
    entries = [_entry(values) for values in document.get("models", [])]
    registry = {e.name: e for e in entries}
    if len(registry) != len(entries):
        raise ValueError(f"{path}: model names must be unique")
    return registry


def model_entry(name: str) -> ModelEntry:
    """The shipped model called ``name``."""
    registry = load_registry()
    if name not in registry:
        raise KeyError(f"No shipped model '{name}'; the registry has {', '.join(sorted(registry))}.")
    return registry[name]
