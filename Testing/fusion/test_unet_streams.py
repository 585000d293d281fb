"""The U-Net's batches in parallel streams (one torch thread each): the same slices, progress that counts up to
every slice, and a cancel or an error that stops every stream."""

from __future__ import annotations

import numpy as np
import pytest

from CTMRFusionLib.core.progress import Cancelled, CancelToken
from CTMRFusionLib.fusion.model import load_fusion_model  # imports torch only when it loads

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model():
    return load_fusion_model(device="cpu")


@pytest.fixture(scope="module")
def stacks():
    rng = np.random.default_rng(3)
    ct = rng.uniform(0, 255, (12, 64, 64)).astype(np.float32)
    mr = rng.uniform(0, 255, (12, 64, 64)).astype(np.float32)
    return ct, mr


def test_two_streams_fuse_the_slices_as_one(model, stacks):
    threads = torch.get_num_threads()
    events = []
    one = model.fuse(*stacks, batch_size=2)
    two = model.fuse(*stacks, batch_size=2, progress=events.append, streams=2)
    # The same slices: only the float rounding of the thread count differs (0–255 scale).
    np.testing.assert_allclose(two, one, atol=1e-3)
    assert float(np.abs(one).max()) > 1.0
    assert sorted(event.iteration for event in events) == list(range(2, 13, 2))
    assert torch.get_num_threads() == threads  # torch's setting is put back


def test_a_cancel_stops_every_stream(model, stacks):
    token, seen = CancelToken(), []

    def progress(event):
        seen.append(event.iteration)
        token.cancel()

    with pytest.raises(Cancelled):
        model.fuse(*stacks, batch_size=1, progress=progress, cancel=token, streams=2)
    assert len(seen) <= 4  # each stream finishes at most the batch it had started: not the 12 slices
