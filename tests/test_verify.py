"""verify.verdict: a kept change stays only if it contributes beyond the noise or simplifies."""

from __future__ import annotations

import random

import pytest

from autoresearch.verify import verdict


@pytest.mark.parametrize("with_change, without_change, floor, lines_removed, expected", [
    ([0.90], [1.00], 0.05, 0, ("keep", "contributes")),
    ([0.97], [1.00], 0.05, 0, ("drop", "within noise floor")),
    ([0.97], [1.00], 0.05, 3, ("keep", "simpler")),
    ([1.02], [1.00], 0.05, 3, ("keep", "simpler")),
    ([1.10], [1.00], 0.05, 3, ("drop", "hurts")),
    ([1.10], [1.00], 0.05, 0, ("drop", "hurts")),
    ([1.00], [1.00], 0.0, 0, ("drop", "within noise floor")),
    ([0.99], [1.00], 0.0, -2, ("keep", "contributes")),
], ids=["contributes", "noise", "simpler", "simpler-slightly-worse", "simpler-but-hurts",
        "hurts", "no-effect-no-floor", "tiny-gain-no-floor"])
def test_verdicts_lower_is_better(with_change, without_change, floor, lines_removed, expected):
    result = verdict(with_change, without_change, direction="lower_is_better",
                     noise_floor=floor, lines_removed=lines_removed)
    assert (result.decision, result.reason) == expected
    assert result.kept is (expected[0] == "keep")


def test_higher_is_better_and_the_contribution_sign():
    result = verdict([0.80], [0.70], direction="higher_is_better", noise_floor=0.05,
                     lines_removed=0)
    assert (result.decision, result.contribution) == ("keep", pytest.approx(0.10))
    worse = verdict([0.70], [0.80], direction="higher_is_better", noise_floor=0.05,
                    lines_removed=0)
    assert (worse.decision, worse.reason, worse.contribution) == \
        ("drop", "hurts", pytest.approx(-0.10))


def test_without_a_calibrated_floor_the_samples_give_one():
    # both sets spread by about 0.02: 2 x MAD = 0.04 > the 0.03 contribution
    with_change = [0.97, 0.95, 0.99, 0.97, 0.93]
    without_change = [1.00, 0.98, 1.02, 1.00, 1.04]
    result = verdict(with_change, without_change, direction="lower_is_better",
                     noise_floor=None, lines_removed=0, how="median")
    assert (result.decision, result.floor) == ("drop", pytest.approx(0.04))
    assert verdict([0.97], [1.00], direction="lower_is_better", noise_floor=None,
                   lines_removed=0).decision == "keep"  # one sample each: no floor


def test_a_lucky_keep_is_dropped_and_a_real_one_survives():
    """Seeded fixture, σ = 0.01, 5 runs each: the real change is 4σ, the lucky one 0."""
    rng = random.Random(15)
    runs = lambda true: [true + rng.gauss(0, 0.01) for _ in range(5)]  # noqa: E731
    real = verdict(runs(0.96), runs(1.00), direction="lower_is_better", noise_floor=0.0135,
                   lines_removed=0)
    lucky = verdict(runs(1.00), runs(1.00), direction="lower_is_better", noise_floor=0.0135,
                    lines_removed=0)
    assert (real.decision, lucky.decision) == ("keep", "drop")
