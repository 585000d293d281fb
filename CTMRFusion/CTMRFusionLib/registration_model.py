"""Loading, checking and exporting the TorchScript deep registration network (torch imported when used).

The shipped model is ``Resources/Models/registration_net.pt`` with its card ``registration_net.md``; its
SHA-256 is recorded here and checked on every load. A model from another path is loaded only when given
explicitly (TorchScript runs code), checked against ``expected_sha256`` when given. Every model carries
CTMRFusion metadata (kind, feature channels, grid) and must map a (1, C, n, n, n) input (n = its grid size) to 6 finite values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import torchscript_files
from .image_checks import InvalidInputError

MODEL_FILE = "registration_net.pt"
#: SHA-256 of the shipped ``Resources/Models/registration_net.pt`` (see its model card).
SHIPPED_SHA256 = "6e04dd63752b0746011c700cdbc4d59716900448b5292e0f25db1d701480d5fe"
MODEL_KIND = "ctmrfusion-registration-net"


def shipped_model_path() -> Path:
    return torchscript_files.shipped_file(MODEL_FILE)


def import_torch():
    return torchscript_files.import_torch(
        "The deep registration initializer", "Use the 'search' initializer instead, or install it. ")


@dataclass
class RegistrationModel:
    """A checked TorchScript registration network ready for inference."""

    module: object
    device: str
    metadata: dict
    sha256: str
    path: Path

    @property
    def features(self) -> tuple:
        return tuple(self.metadata["features"])

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Euler3D parameters (angles rad, translation mm, about the grid centre, LPS) for a (C, D, H, W) input."""
        torch = import_torch()
        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(inputs, np.float32))[None].to(self.device))
        return out[0].double().cpu().numpy()


def _check_signature(module, torch, channels: int, size: int) -> None:
    probe = torch.linspace(0, 1, channels * size ** 3).reshape(1, channels, size, size, size)
    try:
        with torch.inference_mode():
            out = module(probe)
    except Exception as error:  # noqa: BLE001 — any failure means the file is not a usable model
        raise InvalidInputError(f"the model failed on a (1, {channels}, {size}, {size}, {size}) test input: "
                                f"{str(error)[:200]}") from error
    if tuple(out.shape) != (1, 6) or not bool(torch.isfinite(out).all()):
        raise InvalidInputError(f"the model maps a (1, {channels}, {size}³) input to {tuple(out.shape)}; 6 finite "
                                "Euler3D parameters are expected.")


def load_registration_model(path=None, device: str = "auto", expected_sha256: str | None = None) -> RegistrationModel:
    """Load and check a registration network: the shipped one (path None, hash :data:`SHIPPED_SHA256`) or the
    file at ``path`` (explicit user choice). Raises :class:`InvalidInputError` naming the problem."""
    torch = import_torch()
    shipped = path is None or str(path) == ""
    path = shipped_model_path() if shipped else Path(path)
    label = "the shipped registration model" if shipped else f"registration model {path}"
    module, metadata, digest = torchscript_files.load_checked(
        path, label, MODEL_KIND, SHIPPED_SHA256 if shipped else expected_sha256, torch)
    try:
        _check_signature(module, torch, 2 * len(metadata.get("features", ["raw"])), int(metadata.get("grid_size", 40)))
    except InvalidInputError as error:
        raise InvalidInputError(f"{label}: {error}") from None
    device = torchscript_files.choose_device(device)
    return RegistrationModel(module.to(device), device, metadata, digest, path)


def export_registration_model(model, path, metadata: dict) -> str:
    """Script ``model`` (a :class:`registration_net.RegistrationNet`) to ``path`` with metadata; its SHA-256."""
    payload = dict(metadata, kind=MODEL_KIND, input="(N, C, n, n, n): CT features then MR features, ~[0, 1], n = grid_size",
                   output="(N, 6): angles (rad, LPS x/y/z, Z-X-Y) and translation (mm, LPS) about the grid centre")
    return torchscript_files.save_scripted(model, path, payload)
