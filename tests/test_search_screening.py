"""Tests for autoresearch.search.screening: the cheap run that decides who gets the full one."""

from __future__ import annotations

import pytest

from autoresearch.decide import Decision
from autoresearch.search.screening import SCREENED_OUT, Savings, verdict


@pytest.mark.parametrize("direction, passes, fails", [
    ("lower_is_better", 1.015, 1.025),
    ("higher_is_better", 0.985, 0.975),
])
def test_a_screened_value_within_the_margin_earns_the_full_run(direction, passes, fails):
    assert verdict(passes, 1.0, 0.02, True, direction) is None
    assert verdict(1.0 - 0.5 if direction == "lower_is_better" else 1.5, 1.0, 0.02, True,
                   direction) is None  # much better: of course
    assert verdict(fails, 1.0, 0.02, True, direction) == Decision("discard", SCREENED_OUT)


def test_an_absolute_margin():
    assert verdict(12.0, 10.0, 2.5, False, "lower_is_better") is None
    assert verdict(13.0, 10.0, 2.5, False, "lower_is_better") == Decision("discard",
                                                                          SCREENED_OUT)


def test_without_a_screened_best_every_candidate_gets_the_full_run():
    assert verdict(99.0, None, 0.02, True, "lower_is_better") is None


def test_a_crash_in_screening_is_a_crash():
    assert verdict(None, 1.0, 0.02, True, "lower_is_better", "exit 1") == Decision(
        "crash", "screening: exit 1")
    assert verdict(None, 1.0, 0.02, True, "lower_is_better") == Decision(
        "crash", "screening: no metric")


def test_savings_count_the_full_runs_spared_net_of_the_screens():
    savings = Savings()
    assert savings.saved_s == 0.0
    for seconds in (100.0, 120.0, 110.0):
        savings.screened(10.0, full_run_follows=True)
        savings.full_run(seconds)
    savings.screened(10.0, full_run_follows=False)
    savings.screened(10.0, full_run_follows=False)
    assert (savings.spared, savings.screen_s) == (2, 50.0)
    assert savings.saved_s == 2 * 110.0 - 50.0
