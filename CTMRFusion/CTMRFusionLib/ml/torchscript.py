"""The one loader and exporter of CTMRFusion's TorchScript models (fusion U-Net, registration network).

torch is imported only when a model is used. Every model file carries a JSON metadata entry
(``ctmrfusion.json``) naming its ``kind``. :func:`load_model` loads the model of a registry entry
(:mod:`CTMRFusionLib.ml.registry`): the shipped file only if its SHA-256 equals the registry's, a file from any
other path (TorchScript files contain code) only when the path is given explicitly, checked against an expected
SHA-256 when one is given; then the kind, and a signature check on a probe input.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.ml.registry import ModelEntry

METADATA_NAME = "ctmrfusion.json"
#: Where a network can run: "auto" (a CUDA GPU when PyTorch sees one, else the CPU), "cpu", "cuda".
DEVICES = ("auto", "cpu", "cuda")
#: The oldest PyTorch the networks are tested to load with (pyproject's ``deep`` extra says the same).
MINIMUM_TORCH = (2, 2)
TORCH_REQUIREMENT = f">={MINIMUM_TORCH[0]}.{MINIMUM_TORCH[1]}"


def installed_torch_version() -> tuple[int, ...] | None:
    """The installed PyTorch's (major, minor), read from its package metadata (torch is not imported), or None."""
    from importlib import metadata  # noqa: PLC0415 — only when asked

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    numbers = [int(part) for part in re.findall(r"\d+", version)[:2]]
    return tuple(numbers) if len(numbers) == 2 else None


def torch_is_usable() -> bool:
    """Whether an installed PyTorch meets :data:`MINIMUM_TORCH`."""
    version = installed_torch_version()
    return version is not None and version >= MINIMUM_TORCH


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
    """ "auto" → "cuda" when PyTorch sees a GPU, else "cpu"; an explicit CUDA request needs a GPU."""
    torch = import_torch("Running a network")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' was requested but no CUDA GPU is available to PyTorch.")
    return device


def read_scripted(path, torch) -> tuple[object, dict]:
    """(module, CTMRFusion metadata) of a TorchScript file on the CPU; metadata {} when absent or unreadable.
    Raises what ``torch.jit.load`` raises for a file that is not TorchScript."""
    extra = {METADATA_NAME: ""}
    with warnings.catch_warnings():  # torch ≥ 2.10 marks TorchScript deprecated; it still loads everywhere
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    try:
        metadata = json.loads(extra[METADATA_NAME] or "{}")
    except json.JSONDecodeError:
        metadata = {}
    return module, metadata if isinstance(metadata, dict) else {}


def load_checked(path: Path, label: str, kind: str, expected_sha256: str | None, torch):
    """(module, metadata, sha256) of the TorchScript file at ``path`` after the integrity checks.

    Raises :class:`InvalidInputError` when the file is missing, its hash differs from ``expected_sha256``,
    it is not a TorchScript archive, or its metadata is not of ``kind``.
    """
    if not path.is_file():
        raise InvalidInputError(f"{label} not found at {path}.")
    digest = sha256_of(path)
    if expected_sha256 and digest != expected_sha256.strip().lower():
        raise InvalidInputError(
            f"{label} is corrupted or altered: SHA-256 {digest} differs from the expected "
            f"{expected_sha256}. Reinstall the extension (or restore the file)."
        )
    try:
        module, metadata = read_scripted(path, torch)
    except Exception as error:
        raise InvalidInputError(
            f"{label} is not a readable TorchScript model ({str(error).splitlines()[0][:160]})."
        ) from error
    if metadata.get("kind") != kind:
        raise InvalidInputError(
            f"{label} is a TorchScript file without CTMRFusion metadata of kind '{kind}'; "
            "it is not the kind of model this step needs, or was not made by ctmrfusion."
        )
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


@dataclass
class LoadedModel:
    """A checked TorchScript model on ``device``, with its metadata, the file's SHA-256 and path."""

    module: object
    device: str
    metadata: dict
    sha256: str
    path: Path


def load_model(
    entry: ModelEntry,
    path=None,
    device: str = "auto",
    expected_sha256: str | None = None,
    check_signature: Callable | None = None,
    wrapper: type[LoadedModel] = LoadedModel,
    purpose: str = "Running a network",
    alternative: str = "",
) -> LoadedModel:
    """Load and check the model of ``entry``: the shipped file (``path`` None or "", hash from the registry) or
    the file at ``path`` (explicit user choice, checked against ``expected_sha256`` when given, any letter case).

    ``check_signature(module, torch, metadata)`` raises :class:`InvalidInputError` when the model does not map
    a probe input as the entry says. device: "auto" (CUDA if available, else CPU), "cpu" or "cuda[:n]".
    Returns a ``wrapper`` (a :class:`LoadedModel` subclass that adds the task's methods).
    """
    torch = import_torch(purpose, alternative)
    shipped = path is None or str(path) == ""
    path = entry.path if shipped else Path(path)
    noun = entry.task.replace("-", " ")
    label = f"the shipped {noun} model" if shipped else f"{noun} model {path}"
    expected = entry.sha256 if shipped else (expected_sha256 or "").strip().lower() or None
    module, metadata, digest = load_checked(path, label, entry.kind, expected, torch)
    if check_signature is not None:
        try:
            check_signature(module, torch, metadata)
        except InvalidInputError as error:
            raise InvalidInputError(f"{label}: {error}") from None
    device = choose_device(device)
    return wrapper(module.to(device), device, metadata, digest, path)


def export_model(model, path, entry: ModelEntry, metadata: dict) -> str:
    """Script ``model`` to ``path`` with ``metadata`` plus the entry's kind, input and output; its SHA-256."""
    return save_scripted(model, path, dict(metadata, kind=entry.kind, input=entry.input, output=entry.output))
