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
    taking the next piece nobody has taken. If pieces fail, the error raised (once every thread has stopped, so
    that none goes on working on the caller's data) is an interrupt if one came (Ctrl-C, a signal's exception),
    else the error of the lowest failing piece: the same whatever the threads, since pieces are taken in order
    and every piece below a failing one runs."""
    results: list = [None] * pieces
    errors: dict[int, BaseException] = {}
    taken = itertools.count()  # next() on it is atomic under the GIL
    failed = threading.Event()

    def take_pieces() -> None:
        while not failed.is_set():
            piece = next(taken)
            if piece >= pieces:
                return
            try:
                results[piece] = work(piece)
            except BaseException as error:  # raised by the caller below, once every thread stopped
                errors[piece] = error
                failed.set()

    helpers = max(0, min(int(threads), pieces) - 1)
    futures = [_helpers(helpers).submit(take_pieces) for _ in range(helpers)] if helpers else []
    try:
        take_pieces()
    finally:
        for future in futures:
            future.exception()  # waits for the helper; take_pieces itself never raises
    if errors:
        interrupts = [error for _, error in sorted(errors.items()) if not isinstance(error, Exception)]
        raise (interrupts or [errors[min(errors)]])[0]
    return results
