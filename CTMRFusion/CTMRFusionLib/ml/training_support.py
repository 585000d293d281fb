"""Small helpers shared by the training commands (torch): seeds, a text progress bar, the CPU description."""

from __future__ import annotations

import os
import pickle
import platform
import random
import sys
import warnings

import numpy as np
import torch

from CTMRFusionLib.core.errors import InvalidInputError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a torch generator for the data sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress_bar(label: str, step: int, steps: int, loss: float, stream=None) -> None:
    """One-line bar ``label [####....] step/steps loss x`` rewritten in place (on ``stream``, default the current
    stderr); newline at the end."""
    stream = stream or sys.stderr
    filled = int(20 * step / steps)
    stream.write(f"\r{label} [{'#' * filled}{'.' * (20 - filled)}] {step}/{steps} loss {loss:.4f}")
    if step == steps:
        stream.write("\n")
    stream.flush()


def cpu_description(threads: int) -> str:
    return f"{platform.processor() or platform.machine()}, {threads} torch thread(s), {os.cpu_count()} cores"


def shared_data_relative(path: str) -> str:
    """A data path as seen from a checkout beside ``shared/`` (for reproduce commands in model cards)."""
    return "../shared/data/" + path.split("/shared/data/", 1)[1] if "/shared/data/" in path else path


def save_checkpoint(path, model, optimizer, scheduler, generator: torch.Generator, **progress) -> None:
    """Everything a run needs to resume exactly: weights, optimiser, schedule, both random states, and
    ``progress`` (e.g. history and epoch or step)."""
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            **progress,
        },
        path,
    )


def load_plain(path, what: str) -> dict:
    """A file saved by ``torch.save`` holding only tensors and plain containers, loaded without running code
    (``weights_only=True``); a file that needs more (a pickled object: possibly a planted payload) or is not a
    torch file is refused with :class:`InvalidInputError`."""
    try:
        with warnings.catch_warnings():  # torch's notes on an untrusted file are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as error:
        reason = " ".join(str(error).split())[:160]
        raise InvalidInputError(f"{what} {path}: refused, not plain saved tensors ({reason})") from None
    if not isinstance(state, dict):
        raise InvalidInputError(f"{what} {path}: refused, expected a dictionary of tensors")
    return state


def load_checkpoint(path, model, optimizer, scheduler, generator: torch.Generator) -> dict:
    """Restore what :func:`save_checkpoint` wrote into the given objects; returns the checkpoint (its
    progress entries)."""
    state = load_plain(path, "checkpoint")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return state
