"""Work split into a fixed number of pieces, computed by whichever of a few threads is free.

The finest registration level evaluates its metric over about 10⁵ CT samples, mostly in numpy calls that release
the GIL (gathers, arithmetic, histograms): two threads halve it. The pieces are fixed in number and the caller sums
their results in piece order, so the answer is the same whatever thread computed a piece, on any number of threads,
and a thread that the machine's other work delays leaves its pieces to the one that runs (the caller's thread takes
pieces too).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _helpers(count: int) -> ThreadPoolExecutor:
    """The process's pool of helper threads, grown to ``count`` (made on first use, kept for later calls)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < count:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(count, thread_name_prefix="ctmrfusion-pieces"), count
        return _pool


def run_pieces(work: Callable[[int], T], pieces: int, threads: int) -> list[T]:
    """``[work(0), …, work(pieces − 1)]``, computed by this thread and up to ``threads`` − 1 helper threads, each
    taking the next piece nobody has taken. An exception in a piece is raised here, after every thread has stopped
    (none goes on working on the caller's data once this returns or raises)."""
    results: list = [None] * pieces
    taken = itertools.count()  # next() on it is atomic under the GIL
    failed = threading.Event()

    def take_pieces() -> None:
        while not failed.is_set():
            piece = next(taken)
            if piece >= pieces:
                return
            try:
                results[piece] = work(piece)
            except BaseException:
                failed.set()
                raise

    helpers = max(0, min(int(threads), pieces) - 1)
    futures = [_helpers(helpers).submit(take_pieces) for _ in range(helpers)] if helpers else []
    try:
        take_pieces()
    finally:
        errors = [future.exception() for future in futures]  # waits for each helper
    for error in errors:
        if error is not None:
            raise error
    return results
