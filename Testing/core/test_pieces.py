"""Work in fixed pieces shared by a few threads (core/pieces.py): every piece once, in order, whoever computed it;
an error in a piece is raised after every thread has stopped."""

import threading
import time

import numpy as np
import pytest

from CTMRFusionLib.core.pieces import run_pieces


@pytest.mark.parametrize("threads", [1, 2, 4, 20])
def test_every_piece_is_computed_once_and_returned_in_piece_order(threads):
    calls = []

    def square(piece):
        calls.append(piece)
        return piece * piece

    assert run_pieces(square, 13, threads) == [k * k for k in range(13)]
    assert sorted(calls) == list(range(13))


def test_two_threads_work_at_once():
    """With two threads, two pieces that each wait for the other finish (one thread alone would wait forever)."""
    barrier = threading.Barrier(2, timeout=10)
    names = run_pieces(lambda piece: (barrier.wait(), threading.current_thread().name)[1], 2, 2)
    assert len(set(names)) == 2


def test_a_sum_over_pieces_does_not_depend_on_the_threads():
    """What the finest level's metric relies on: the same pieces, added in piece order, give the same bits."""
    values = np.random.default_rng(0).normal(size=100_003)
    bounds = np.linspace(0, values.size, 9).astype(int)

    def piece_sum(piece):
        time.sleep(0.001 * (piece % 3))  # pieces end in a different order on several threads
        return values[bounds[piece] : bounds[piece + 1]].sum()

    sums = {threads: sum(run_pieces(piece_sum, 8, threads)) for threads in (1, 2, 3)}
    assert sums[1] == sums[2] == sums[3]


def test_an_error_in_a_piece_is_raised_once_the_other_threads_stopped():
    running, started = [], []

    def work(piece):
        started.append(piece)
        running.append(piece)
        time.sleep(0.01)
        if piece == 1:
            raise ValueError("piece 1 failed")
        running.remove(piece)
        return piece

    with pytest.raises(ValueError, match="piece 1 failed"):
        run_pieces(work, 50, 2)
    left = list(running)
    time.sleep(0.05)
    assert running == left == [1]  # nothing but the failed piece began and did not end; nothing runs on
    assert len(started) <= 4  # the other thread stopped taking pieces when piece 1 failed


def test_when_several_pieces_fail_the_lowest_ones_error_is_raised_whatever_the_threads():
    """Bad input found in both images is reported the same way every time: piece 0's error, though piece 1 (on
    another thread) fails first."""

    def work(piece):
        if piece == 0:
            time.sleep(0.05)
        raise ValueError(f"piece {piece}")

    for threads in (1, 2):
        with pytest.raises(ValueError, match="piece 0"):
            run_pieces(work, 2, threads)


def test_an_interrupt_in_a_piece_wins_over_another_pieces_error():
    second_began = threading.Event()

    def work(piece):
        if piece == 0:
            second_began.wait(10)
            raise ValueError("piece 0")
        second_began.set()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pieces(work, 2, 2)
