"""Loading, checking, exporting and running the TorchScript fusion model (torch imported only when used).

The shipped model lives in ``Resources/Models/fusion_unet.pt`` with its model card ``fusion_unet.md``; its
SHA-256 is recorded in ``Resources/Models/models.json`` (entry ``fusion_unet``) and checked on every load, so
a truncated or altered file is refused with a clear message instead of being run. TorchScript files contain
code: a model from any other path is loaded only when its path is given explicitly (``path=``/``--model``),
and its hash is reported (and checked against ``expected_sha256`` when given). Every model must carry
CTMRFusion metadata and pass a signature check: 2 input channels (CT, MR) in [0, 1] → 1 output channel of the
same size in [0, 1].
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from CTMRFusionLib.ml import torchscript
from CTMRFusionLib.ml.registry import model_entry

#: The registry entry of the shipped fusion model.
MODEL_NAME = "fusion_unet"
_PURPOSE = ("The U-Net fusion", "Use a classic method (max, average, laplacian, gff), or install it. ")


def shipped_model_path() -> Path:
    return model_entry(MODEL_NAME).path


def import_torch():
    """torch, or an error saying how to get it (the classic fusion rules do not need it)."""
    return torchscript.import_torch(*_PURPOSE)


#: Slices per network call when none is asked for: small batches are fastest on the CPU (measured, see
#: docs/fusion.md "Speed"), large ones on a GPU.
DEFAULT_BATCH_SIZE = {"cpu": 2, "cuda": 16}


def default_batch_size(device: str) -> int:
    """Slices per U-Net call on ``device`` ("cpu", "cuda", "cuda:1"…) when the caller leaves it open."""
    return DEFAULT_BATCH_SIZE["cuda" if device.startswith("cuda") else "cpu"]


@dataclass
class FusionModel(torchscript.LoadedModel):
    """A checked TorchScript fusion model ready for inference (its weights in channels-last memory)."""

    def __post_init__(self):
        self.module = self.module.to(memory_format=import_torch().channels_last)

    def fuse(
        self,
        ct: np.ndarray,
        mr: np.ndarray,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        streams: int = 1,
    ) -> np.ndarray:
        """Fuse slice stacks ``ct``, ``mr`` of shape (n, H, W) on the 0–255 scale → (n, H, W) float32 0–255.

        The network runs on ``batch_size`` slices at a time (None: :func:`default_batch_size` of the device),
        in inference mode with channels-last tensors (NHWC, faster for CPU convolutions; same values). One
        progress line per batch; ``cancel`` is checked before each batch. ``streams`` (CPU): how many batches
        run at once, each on one torch thread; the slices are independent, and this small network's convolutions
        use several cores better that way than split over them (200 slices of 256×256 on 2 cores: 4.3 s in 2
        streams, 5.6 s on 2 torch threads). 1: the batches in turn, on torch's threads.
        """
        torch = import_torch()
        ct, mr = np.asarray(ct, np.float32), np.asarray(mr, np.float32)
        if ct.shape != mr.shape or ct.ndim != 3:
            raise InvalidInputError(f"CT slices {ct.shape} and MR slices {mr.shape} must be equal (n, H, W) stacks.")
        batch_size = batch_size or default_batch_size(self.device)
        fused = np.empty(ct.shape, np.float32)
        count = ct.shape[0]
        batches = [(start, min(count, start + batch_size)) for start in range(0, count, batch_size)]
        done, lock, stop = [0], threading.Lock(), threading.Event()

        def run(assigned, threads: int | None) -> None:
            if threads is not None:
                torch.set_num_threads(threads)  # this thread's OpenMP setting too
            with torch.inference_mode():
                for start, end in assigned:
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    if stop.is_set():
                        return
                    batch = torch.from_numpy(np.stack([ct[start:end], mr[start:end]], axis=1) / 255.0)
                    out = self.module(batch.to(self.device).contiguous(memory_format=torch.channels_last))
                    fused[start:end] = out[:, 0].float().cpu().numpy() * 255.0
                    with lock:
                        done[0] += end - start
                        finished = done[0]
                    message = f"U-Net: {finished}/{count} slices"
                    report(progress, ProgressEvent("fuse", finished / count, message, iteration=finished))

        streams = min(max(1, int(streams)), len(batches))
        if streams == 1 or self.device != "cpu":
            run(batches, None)
            return fused
        previous = torch.get_num_threads()
        pool = ThreadPoolExecutor(streams, thread_name_prefix="ctmrfusion-unet")
        try:
            torch.set_num_threads(1)
            for future in [pool.submit(run, batches[i::streams], 1) for i in range(streams)]:
                future.result()
        except BaseException:
            stop.set()  # the other streams end after their current batch
            raise
        finally:
            pool.shutdown(wait=True)
            torch.set_num_threads(previous)
        return fused


def _check_signature(module, torch, metadata=None) -> None:
    probe = torch.linspace(0, 1, 2 * 40 * 36).reshape(1, 2, 40, 36)
    try:
        with torch.inference_mode():
            out = module(probe)
    except Exception as error:
        raise InvalidInputError(f"the model failed on a (1, 2, 40, 36) test input: {str(error)[:200]}") from error
    if tuple(out.shape) != (1, 1, 40, 36):
        raise InvalidInputError(
            f"the model maps a (1, 2, 40, 36) input to {tuple(out.shape)}; (1, 1, 40, 36) "
            "is expected (CT and MR in, one fused channel out)."
        )
    if not bool(torch.isfinite(out).all()) or float(out.min()) < 0 or float(out.max()) > 1:
        raise InvalidInputError("the model's output is not finite values in [0, 1].")


def load_fusion_model(path=None, device: str = "auto", expected_sha256: str | None = None) -> FusionModel:
    """Load and check a TorchScript fusion model.

    path None: the shipped model, whose SHA-256 must be the registry's. Otherwise the file at ``path`` (explicit
    user choice), checked against ``expected_sha256`` when given. device: "auto" (CUDA if available, else CPU),
    "cpu" or "cuda[:n]". Raises :class:`InvalidInputError` naming the problem.
    """
    return torchscript.load_model(
        model_entry(MODEL_NAME), path, device, expected_sha256, _check_signature, FusionModel, *_PURPOSE
    )


def export_torchscript(model, path, metadata: dict) -> str:
    """Script ``model`` (a :class:`~CTMRFusionLib.fusion.unet.FusionUNet`) to ``path`` with metadata; its SHA-256."""
    return torchscript.export_model(model, path, model_entry(MODEL_NAME), metadata)
