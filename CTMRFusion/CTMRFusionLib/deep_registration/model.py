"""Loading, checking and exporting the TorchScript deep registration network (torch imported when used).

The shipped model is ``Resources/Models/registration_net.pt`` with its card ``registration_net.md``; its
SHA-256 is recorded in ``Resources/Models/models.json`` (entry ``registration_net``) and checked on every
load. A model from another path is loaded only when given explicitly (TorchScript runs code), checked against
``expected_sha256`` when given. Every model carries CTMRFusion metadata (kind, feature channels, grid) and
must map a (1, C, n, n, n) input (n = its grid size) to 6 finite values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.ml import torchscript
from CTMRFusionLib.ml.registry import model_entry

#: The registry entry of the shipped registration network.
MODEL_NAME = "registration_net"
_PURPOSE = ("The deep registration initializer", "Use the 'search' initializer instead, or install it. ")


def shipped_model_path() -> Path:
    return model_entry(MODEL_NAME).path


def import_torch():
    return torchscript.import_torch(*_PURPOSE)


class RegistrationModel(torchscript.LoadedModel):
    """A checked TorchScript registration network ready for inference."""

    @property
    def features(self) -> tuple:
        return tuple(self.metadata["features"])

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Euler3D parameters (angles rad, translation mm, about the grid centre, LPS) for a (C, D, H, W) input."""
        torch = import_torch()
        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(inputs, np.float32))[None].to(self.device))
        return out[0].double().cpu().numpy()


def _check_signature(module, torch, metadata: dict) -> None:
    channels = 2 * len(metadata.get("features", ["raw"]))
    size = int(metadata.get("grid_size", 40))
    probe = torch.linspace(0, 1, channels * size**3).reshape(1, channels, size, size, size)
    try:
        with torch.inference_mode():
            out = module(probe)
    except Exception as error:
        raise InvalidInputError(
            f"the model failed on a (1, {channels}, {size}, {size}, {size}) test input: {str(error)[:200]}"
        ) from error
    if tuple(out.shape) != (1, 6) or not bool(torch.isfinite(out).all()):
        raise InvalidInputError(
            f"the model maps a (1, {channels}, {size}³) input to {tuple(out.shape)}; 6 finite "
            "Euler3D parameters are expected."
        )


def load_registration_model(path=None, device: str = "auto", expected_sha256: str | None = None) -> RegistrationModel:
    """Load and check a registration network: the shipped one (path None or "", hash from the registry) or the
    file at ``path`` (explicit user choice). Raises :class:`InvalidInputError` naming the problem."""
    return torchscript.load_model(
        model_entry(MODEL_NAME), path, device, expected_sha256, _check_signature, RegistrationModel, *_PURPOSE
    )


def export_registration_model(model, path, metadata: dict) -> str:
    """Script ``model`` (a :class:`~CTMRFusionLib.deep_registration.net.RegistrationNet`) to ``path`` with
    metadata; its SHA-256."""
    return torchscript.export_model(model, path, model_entry(MODEL_NAME), metadata)
