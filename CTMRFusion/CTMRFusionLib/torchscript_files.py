"""Shared handling of the TorchScript models CTMRFusion ships (fusion U-Net, registration network).

torch is imported only when a model is used. Every model file carries a JSON metadata entry
(``ctmrfusion.json``) naming its ``kind``; a shipped model is loaded only if its SHA-256 equals the one recorded
in the code, and a model from any other path (TorchScript files contain code) only when the path is given
explicitly, checked against an expected SHA-256 when one is given.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from .image_checks import InvalidInputError

METADATA_NAME = "ctmrfusion.json"

#: Where ``Resources/Models`` lies: in the source tree (repo root) and in an installed extension (module dir).
MODEL_DIRS = [
    Path(__file__).resolve().parents[2] / "Resources" / "Models",
    Path(__file__).resolve().parents[1] / "Resources" / "Models",
]


def shipped_file(name: str) -> Path:
    """Path of a shipped model file (the first ``Resources/Models`` that has it)."""
    return next((d / name for d in MODEL_DIRS if (d / name).is_file()), MODEL_DIRS[0] / name)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_torch(purpose: str, alternative: str = ""):
    """torch, or an error saying what needs it and how to install it."""
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise InvalidInputError(
            f"{purpose} needs PyTorch, which is not installed. {alternative}Install torch: 'pip install torch' "
            "(inside Slicer: the PyTorch extension's 'Install PyTorch', or slicer.util.pip_install('torch'))."
        ) from None
    return torch


def choose_device(device: str = "auto") -> str:
    """"auto" → "cuda" when PyTorch sees a GPU, else "cpu"; an explicit CUDA request needs a GPU."""
    torch = import_torch("Running a network")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' was requested but no CUDA GPU is available to PyTorch.")
    return device


def load_checked(path: Path, label: str, kind: str, expected_sha256: str | None, torch):
    """(module, metadata, sha256) of the TorchScript file at ``path`` after the integrity checks.

    Raises :class:`InvalidInputError` when the file is missing, its hash differs from ``expected_sha256``,
    it is not a TorchScript archive, or its metadata is not of ``kind``.
    """
    if not path.is_file():
        raise InvalidInputError(f"{label} not found at {path}.")
    digest = sha256_of(path)
    if expected_sha256 and digest != expected_sha256:
        raise InvalidInputError(f"{label} is corrupted or altered: SHA-256 {digest} differs from the expected "
                                f"{expected_sha256}. Reinstall the extension (or restore the file).")
    extra = {METADATA_NAME: ""}
    try:
        with warnings.catch_warnings():  # torch ≥ 2.10 marks TorchScript deprecated; it still loads everywhere
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as error:  # noqa: BLE001 — torch raises several types for unreadable archives
        raise InvalidInputError(f"{label} is not a readable TorchScript model ({str(error).splitlines()[0][:160]})."
                                ) from error
    try:
        metadata = json.loads(extra[METADATA_NAME] or "{}")
    except json.JSONDecodeError:
        metadata = {}
    if metadata.get("kind") != kind:
        raise InvalidInputError(f"{label} is a TorchScript file without CTMRFusion metadata of kind '{kind}'; "
                                "it is not the kind of model this step needs, or was not made by ctmrfusion.")
    module.eval()
    return module, metadata, digest


def save_scripted(model, path, metadata: dict) -> str:
    """Script ``model`` to ``path`` with ``metadata`` (must name its ``kind``); returns the file's SHA-256."""
    torch = import_torch("Exporting a model")
    model = model.cpu().eval()
    with warnings.catch_warnings():  # TorchScript is what Slicer's and users' torch versions all load
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(path), _extra_files={METADATA_NAME: json.dumps(metadata, indent=1)})
    return sha256_of(path)
