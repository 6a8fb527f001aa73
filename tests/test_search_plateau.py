"""Tests for autoresearch.search.plateau and .directions: pivots, stops, directions tried."""

from __future__ import annotations

import pytest

from autoresearch.errors import ConfigError
from autoresearch.search.directions import directions
from autoresearch.search.novelty import Past
from autoresearch.search.plateau import CONTINUE, PIVOT, STOP, Plateau, since_keep


def test_since_keep_counts_the_experiments_after_the_last_keep():
    assert since_keep([]) == 0
    assert since_keep(["keep", "discard", "crash", "discard"]) == 3
    assert since_keep(["discard", "discard", "keep"]) == 0


def test_a_plateau_pivots_every_pivot_after_experiments():
    plateau = Plateau(pivot_after=3)
    steps = [plateau.next_step(n) for n in range(8)]
    assert steps == [CONTINUE, CONTINUE, CONTINUE, PIVOT, CONTINUE, CONTINUE, PIVOT, CONTINUE]
    assert [plateau.pivot_number(n) for n in (3, 6)] == [1, 2]


def test_a_plateau_stops_after_stop_after_and_the_stop_wins_over_a_pivot():
    plateau = Plateau(pivot_after=4, stop_after=8)
    assert plateau.next_step(7) == CONTINUE
    assert plateau.next_step(8) == STOP
    assert plateau.next_step(12) == STOP
    assert Plateau(pivot_after=4).next_step(400) == PIVOT


def test_a_keep_ends_the_plateau():
    plateau = Plateau(pivot_after=2, stop_after=3)
    history = ["keep", "discard", "discard", "keep", "discard"]
    assert plateau.next_step(since_keep(history)) == CONTINUE
    assert plateau.next_step(since_keep(history + ["crash"])) == PIVOT
    assert plateau.next_step(since_keep(history + ["crash", "discard"])) == STOP


@pytest.mark.parametrize("kwargs, message", [
    ({"pivot_after": 0}, "pivot_after: 0 is not valid; use a whole number >= 1"),
    ({"stop_after": 0}, "stop_after_plateau: 0 is not valid; use a whole number >= 1"),
])
def test_bad_plateau_settings_are_one_line_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as error:
        Plateau(**kwargs)
    assert error.value.message == message


def test_directions_group_experiments_by_what_they_changed():
    history = [
        Past(1, "discard", "raise the learning rate", ("t.py:-0|LR=0.04", "t.py:+0|LR=0.08"),
             0.02),
        Past(2, "keep", "use rms norm", ("t.py:-1|x=layer_norm(x)", "t.py:+1|x=rms_norm(x)"),
             -0.01),
        Past(3, "discard", "lower the learning rate", ("t.py:-0|LR=0.04", "t.py:+0|LR=0.02"),
             0.01),
        Past(4, "discard", "use scale norm",
             ("t.py:-1|x=layer_norm(x)", "t.py:+1|x=scale_norm(x)"), 0.03),
        Past(5, "crash", "warm up for longer", ("t.py:-0|WARMUP=100", "t.py:+0|WARMUP=300"),
             None),
    ]
    found = directions(history)
    by_numbers = {d.numbers: d for d in found}
    assert set(by_numbers) == {(1, 3), (2, 4), (5,)}
    assert [d.numbers for d in found][:2] == [(2, 4), (1, 3)]  # ties: the most recent first
    assert "lr" in by_numbers[(1, 3)].label
    assert "norm" in by_numbers[(2, 4)].label
    assert (by_numbers[(2, 4)].kept, by_numbers[(2, 4)].best_delta) == (1, -0.01)
    assert (by_numbers[(5,)].kept, by_numbers[(5,)].best_delta) == (0, None)
    assert directions(history, lower_is_better=False, limit=1)[0].best_delta == 0.03
