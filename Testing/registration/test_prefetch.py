"""The pair's memo and the second-thread prefetch: each set-up made once, the same object whoever made it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from CTMRFusionLib.registration.confidence import interior_score
from CTMRFusionLib.registration.mattes_mi import MattesMutualInformation
from CTMRFusionLib.registration.mi_refinement import MOVING_SPACING_RATIO, numpy_level_metric, sample_count
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.prefetch import start_prefetch
from CTMRFusionLib.registration.preparation import prepare_pair


@pytest.fixture(scope="module")
def options():
    return RegistrationOptions.from_preset("default")


@pytest.fixture
def pair(demo_images, options):
    return prepare_pair(*demo_images, options)


def test_two_threads_asking_at_once_get_one_computation(pair):
    calls, results = [], []

    def compute():
        calls.append(threading.current_thread().name)
        time.sleep(0.2)
        return object()

    threads = [threading.Thread(target=lambda: results.append(pair.memo("k", compute))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 2 and results[0] is results[1]


def test_an_error_reaches_every_asker(pair):
    def fail():
        raise ValueError("unusable")

    for _ in range(2):
        with pytest.raises(ValueError, match="unusable"):
            pair.memo("bad", fail)


def test_a_stopped_prefetch_makes_nothing_more(pair, options):
    prefetch = start_prefetch(pair, options)
    prefetch.stop()
    prefetch.thread.join(timeout=60)
    assert not prefetch.thread.is_alive()
    assert len(pair._memo) <= 1  # at most the set-up it was making when told to stop (the finest grid)


def test_the_prefetched_metric_is_the_one_made_in_sequence(pair, demo_images, options):
    """The prefetch makes the finest level's grid, metric and the verdict's interior score; the metric has the same
    samples, bins and gradient table as one made on the main thread from a fresh pair (same seed)."""
    start_prefetch(pair, options).thread.join(timeout=60)
    finest = len(options.level_spacings_mm) - 1
    spacing, sigma = options.level_spacings_mm[finest], options.smoothing_sigmas_mm[finest]
    prefetched = numpy_level_metric(pair, finest, options)
    assert prefetched is numpy_level_metric(pair, finest, options)  # made once
    assert interior_score(pair, options) is interior_score(pair, options)

    fresh_pair = prepare_pair(*demo_images, options)
    fixed, moving, fixed_mask, moving_mask = fresh_pair.level_grid(spacing, sigma, MOVING_SPACING_RATIO)
    samples = sample_count(fixed, fixed_mask, options)
    args = (options.histogram_bins, samples, options.random_seed, options.sampling_strategy)
    fresh = MattesMutualInformation(fixed, moving, fixed_mask, moving_mask, *args)
    assert prefetched.sample_count == fresh.sample_count > 10_000
    np.testing.assert_array_equal(prefetched.points_by_axis, fresh.points_by_axis)
    np.testing.assert_array_equal(prefetched.fixed_bins, fresh.fixed_bins)
    np.testing.assert_array_equal(prefetched.table, fresh.table)
