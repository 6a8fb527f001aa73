"""incumbent: the re-measured best pools its samples, its value and its noise floor follow."""

from __future__ import annotations

import random
import statistics

import pytest

from autoresearch.decide import Best
from autoresearch.incumbent import pool, remeasure_due


@pytest.mark.parametrize("done, every, due", [
    (0, 3, False), (1, 3, False), (3, 3, True), (6, 3, True), (7, 3, False),
    (5, 1, True), (5, 0, False),
])
def test_remeasure_is_due_every_n_experiments(done, every, due):
    assert remeasure_due(done, every) is due


def test_the_pooled_value_and_floor_come_from_all_samples():
    best = Best(0.90, samples=(0.90,), code_lines=12)
    pooled = pool(best, [1.00, 0.98, 1.02], "median")
    assert pooled.samples == (0.90, 1.00, 0.98, 1.02)
    assert pooled.value == pytest.approx(0.99)
    assert pooled.noise_floor == pytest.approx(2 * 0.02)
    assert pooled.code_lines == 12


def test_a_best_without_samples_pools_its_logged_value():
    pooled = pool(Best(0.90), [1.0], "mean")
    assert (pooled.samples, pooled.value, pooled.noise_floor) == ((0.90, 1.0), 0.95, None)


def test_a_calibrated_floor_is_a_lower_bound():
    calibrated = Best(1.0, samples=(1.0,), noise_floor=0.05)
    assert pool(calibrated, [1.0, 1.0], "median").noise_floor == 0.05  # samples agree
    assert pool(calibrated, [1.2, 0.8, 1.1], "median").noise_floor == pytest.approx(0.2)


def test_a_best_that_looked_good_once_loses_its_lead():
    """Seeded fixture: the best's true value is 1.00 (σ 0.01) but it was kept on a run of 0.97;
    a rival truly at 0.99 could not beat 0.97, and beats the pooled value."""
    rng = random.Random(2)
    best = Best(0.97, samples=(0.97,))
    for _ in range(3):
        best = pool(best, [1.00 + rng.gauss(0, 0.01) for _ in range(2)], "median")
    assert len(best.samples) == 7
    assert abs(best.value - 1.00) < 0.01
    assert 0.99 < best.value  # the rival's true value now wins


@pytest.mark.parametrize("samples", [[], [float("nan")], [1.0, float("inf")]])
def test_no_finite_sample_is_refused(samples):
    with pytest.raises(ValueError, match="finite sample"):
        pool(Best(1.0), samples, "median")


def test_aggregate_follows_the_policy():
    best = Best(3.0, samples=(3.0, 1.0))
    assert pool(best, [2.0, 10.0], "min").value == 1.0
    assert pool(best, [2.0, 10.0], "mean").value == statistics.fmean([3.0, 1.0, 2.0, 10.0])
