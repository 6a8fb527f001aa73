"""compare: the paired sequential rule, its derived boundaries, and its error rates on the
seeded noisy fixture (tests/noisy.py), where the truth is known."""

from __future__ import annotations

import importlib.util
import math
import random
from pathlib import Path
from statistics import NormalDist

import pytest
from noisy import paired_keeps, plain_keeps

from autoresearch.compare import (
    FIRST_LOOK,
    MAX_REPEATS,
    OBF_CONSTANTS,
    boundaries,
    check_repeats,
    paired_step,
)
from autoresearch.errors import ConfigError
from autoresearch.tdist import t_sf

LOWER = "lower_is_better"


def step(candidate, best, repeats=8, direction=LOWER, **options):
    return paired_step(candidate, best, direction=direction, repeats=repeats, **options)


# -- the acceptance test: σ-scaled effects, repeats 8, 200 trials ---------------------

def test_a_null_change_is_rarely_kept_and_a_2_sigma_gain_usually():
    null = paired_keeps(0.0, trials=200, seed=15)
    real = paired_keeps(2.0, trials=200, seed=16)
    assert null.kept <= 10, null  # at most 5 %
    assert real.kept >= 160, real  # at least 80 %


def test_a_higher_worth_saves_runs_on_null_changes_and_never_adds_false_keeps():
    default = paired_keeps(0.0, trials=200, seed=15)
    floor = paired_keeps(0.0, trials=200, seed=15, worth_floor=True)
    assert floor.kept <= 10, floor
    assert floor.runs_per_candidate < default.runs_per_candidate - 2


def test_drift_between_sessions_fools_the_plain_rule_not_the_paired_one():
    paired = paired_keeps(0.0, trials=200, seed=18, drift=1.0)
    plain = plain_keeps(0.0, trials=200, seed=18, repeats=8, drift=1.0)
    assert paired.kept <= 10, paired
    assert plain.kept > 2 * 10, plain  # the best's old runs are off by the drift


def test_the_plain_rule_keeps_noise_far_more_often_on_the_same_fixture():
    paired = paired_keeps(0.0, trials=200, seed=15)
    one_run = plain_keeps(0.0, trials=200, seed=15)
    calibrated = plain_keeps(0.0, trials=200, seed=15, calibrated=True)
    assert one_run.kept > 70  # a coin flip: about half
    assert calibrated.kept > 25  # the floor helps, but about one in five still passes
    assert paired.kept * 4 < calibrated.kept


def test_clearly_worse_candidates_stop_early():
    worse = paired_keeps(-2.0, trials=200, seed=17)
    assert worse.kept == 0
    assert worse.runs_per_candidate < 2 * 4.5  # most stop at the third or fourth pair


# -- the boundaries ------------------------------------------------------------------------------

def test_there_is_a_constant_for_every_supported_repeats_and_they_grow_with_it():
    assert len(OBF_CONSTANTS) == MAX_REPEATS - FIRST_LOOK + 1
    assert list(OBF_CONSTANTS) == sorted(OBF_CONSTANTS)
    # one look at 3 pairs is a plain one-sided t-test: exactly z_0.975 would give 2.5 %
    assert OBF_CONSTANTS[0] >= NormalDist().inv_cdf(0.975)


def test_the_boundaries_fall_from_overwhelming_to_a_plain_t_test():
    looks = boundaries(8)
    assert [look.pairs for look in looks] == list(range(3, 9))
    keep_t = [look.keep_t for look in looks]
    assert keep_t == sorted(keep_t, reverse=True)
    assert keep_t[0] > 20  # the third pair alone almost never keeps
    # the last look asks for little more than a fixed-size t-test at 2.5 % (2.365 for 7 df)
    assert 2.365 < keep_t[-1] < 2.8
    assert looks[-1].keep_confidence == pytest.approx(0.983, abs=5e-4)  # the docstring's 98.3 %
    assert all(look.discard_t == pytest.approx(_t_quantile(0.9, look.pairs - 1))
               for look in looks)


def test_the_docs_show_these_boundaries():
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_compare.py"
    spec = importlib.util.spec_from_file_location("bench_compare", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    docs = (path.parents[1] / "docs" / "measurement.md").read_text(encoding="utf-8")
    assert bench.boundaries_table() in docs


def _t_quantile(p: float, df: int) -> float:
    low, high = -50.0, 50.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if 1 - t_sf(middle, df) < p else (low, middle)
    return low


@pytest.mark.parametrize("repeats", [4, 8, 16])
def test_the_keep_boundary_keeps_a_null_change_at_most_2_5_percent(repeats):
    """A fresh simulation (not the derivation's seed) of the t statistic under no effect. The
    known-variance constant (2.072 at 8 pairs), converted the same way, keeps 2.9 % here."""
    keep_t = {look.pairs: look.keep_t for look in boundaries(repeats)}
    rng = random.Random(1000 + repeats)
    kept, trials = 0, 50_000
    for _ in range(trials):
        total = squares = 0.0
        for n in range(1, repeats + 1):
            x = rng.gauss(0.0, 1.0)
            total, squares = total + x, squares + x * x
            if n >= FIRST_LOOK:
                t = total / math.sqrt((squares - total * total / n) / (n - 1) * n)
                if t >= keep_t[n]:
                    kept += 1
                    break
    assert 0.021 < kept / trials < 0.0265


@pytest.mark.parametrize("repeats", [2, 51, 0, True, 8.0, "8"])
def test_repeats_outside_the_table_is_a_config_error(repeats):
    with pytest.raises(ConfigError, match=r"repeats: .* does not suit compare: paired; use a "
                                          r"whole number from 3 to 50"):
        check_repeats(repeats)


# -- one step at a time ------------------------------------------------------------------------

def test_nothing_is_decided_before_the_third_pair():
    assert step([], []).decision == "continue"
    first = step([0.5], [1.0])
    assert (first.decision, first.confidence, first.improvement) == ("continue", None, 0.5)
    second = step([0.5, 0.52], [1.0, 1.01])
    assert second.decision == "continue" and second.confidence > 0.9


def test_a_consistent_gain_keeps_at_the_fourth_pair_not_the_third():
    candidate, best = [0.90, 0.91, 0.90, 0.905], [1.00, 1.00, 1.01, 1.00]
    assert step(candidate[:3], best[:3]).decision == "continue"
    kept = step(candidate, best)
    assert (kept.decision, kept.reason, kept.pairs) == ("keep", "improved", 4)
    assert kept.confidence > 0.9999
    assert kept.improvement == pytest.approx(0.09875)


def test_a_clear_loss_is_discarded_at_the_third_pair():
    result = step([1.10, 1.11, 1.09], [1.00, 1.01, 1.00])
    assert (result.decision, result.reason, result.pairs) == ("discard", "not improved", 3)
    assert result.confidence < 0.01


def test_the_direction_orients_the_improvement():
    higher = step([0.90, 0.91, 0.90, 0.905], [1.00, 1.00, 1.01, 1.00],
                  direction="higher_is_better")
    assert (higher.decision, higher.improvement) == ("discard", pytest.approx(-0.09875))


def test_the_confidence_is_the_paired_t_tests():
    # differences 1..5: mean 3, sd 1.5811, t = 4.2426 with 4 degrees of freedom
    result = step([0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0], repeats=20)
    assert result.confidence == pytest.approx(1 - t_sf(3 / (math.sqrt(2.5) / math.sqrt(5)), 4))
    assert result.confidence == pytest.approx(0.99338, abs=1e-5)


def test_the_last_pair_always_decides():
    candidate, best = [1.0, 0.99, 1.01], [1.0, 1.0, 1.0]
    assert step(candidate, best, repeats=3).decision == "discard"
    assert step(candidate, best, repeats=8).decision == "continue"


def test_identical_pairs_decide_at_the_first_look():
    same = step([1.0] * 3, [1.0] * 3)
    assert (same.decision, same.confidence) == ("discard", 0.0)
    better = step([0.9] * 3, [1.0] * 3)
    assert (better.decision, better.confidence) == ("keep", 1.0)
    assert step([0.9] * 2, [1.0] * 2).decision == "continue"


def test_min_delta_is_what_a_keep_must_beat():
    candidate, best = [0.99, 0.989, 0.991, 0.99], [1.0, 1.0, 1.0, 1.0]
    assert step(candidate, best).decision == "keep"
    assert step(candidate, best, min_delta=0.02).decision == "discard"


def test_worth_stops_a_small_gain_early():
    candidate, best = [0.99, 1.005, 0.988], [1.0, 1.0, 1.0]
    assert step(candidate, best).decision == "continue"
    assert step(candidate, best, worth=0.05).decision == "discard"
    # worth below min_delta counts as min_delta
    assert step(candidate, best, min_delta=0.05, worth=0.0).decision == "discard"


@pytest.mark.parametrize("candidate, best, message", [
    ([1.0, 1.0], [1.0], "must pair up: 2 candidate, 1 best"),
    ([1.0] * 9, [1.0] * 9, "9 pairs measured, more than repeats"),
    ([1.0, math.nan], [1.0, 1.0], "finite"),
    ([1.0], [math.inf], "finite"),
])
def test_samples_that_do_not_pair_up_are_a_programming_error(candidate, best, message):
    with pytest.raises(ValueError, match=message):
        step(candidate, best)
