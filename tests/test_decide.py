"""Tests for autoresearch.decide: the keep/discard/crash rule and its helpers."""

from __future__ import annotations

import math

import pytest

from autoresearch.decide import (
    Best,
    Candidate,
    Decision,
    Policy,
    aggregate,
    code_lines,
    improvement,
    judge,
    noise_floor,
    parse_min_delta,
    threshold,
)
from autoresearch.errors import ConfigError

LOWER = Policy("lower_is_better")
HIGHER = Policy("higher_is_better")


def better(direction: str, base: float, by: float) -> float:
    """A value ``by`` better than ``base`` in the given direction."""
    return base - by if direction == "lower_is_better" else base + by


@pytest.fixture(params=["lower_is_better", "higher_is_better"])
def direction(request) -> str:
    return request.param


# --- judge: crash ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (Candidate(None), "no metric"),
        (Candidate(math.nan), "metric is nan"),
        (Candidate(math.inf), "metric is inf"),
        (Candidate(-math.inf), "metric is -inf"),
        (Candidate(None, crash_reason="exit code 1"), "exit code 1"),
        (Candidate(0.5, crash_reason="timeout after 300 s"), "timeout after 300 s"),
    ],
)
def test_crash(candidate: Candidate, reason: str, direction: str) -> None:
    policy = Policy(direction)
    assert judge(candidate, Best(1.0), policy) == Decision("crash", reason)
    assert judge(candidate, None, policy) == Decision("crash", reason)


# --- judge: keep / discard ------------------------------------------------------------


def test_first_measured_run_is_the_baseline(direction: str) -> None:
    assert judge(Candidate(123.0), None, Policy(direction)) == Decision("keep", "baseline")


def test_improved_is_kept(direction: str) -> None:
    candidate = Candidate(better(direction, 1.0, 0.01))
    assert judge(candidate, Best(1.0), Policy(direction)) == Decision("keep", "improved")


def test_worse_is_discarded(direction: str) -> None:
    candidate = Candidate(better(direction, 1.0, -0.01))
    assert judge(candidate, Best(1.0), Policy(direction)) == Decision("discard", "not improved")


def test_equal_is_discarded(direction: str) -> None:
    assert judge(Candidate(1.0), Best(1.0), Policy(direction)) == Decision(
        "discard", "not improved"
    )


def test_lower_and_higher_disagree_on_the_same_numbers() -> None:
    assert judge(Candidate(0.9), Best(1.0), LOWER).status == "keep"
    assert judge(Candidate(0.9), Best(1.0), HIGHER).status == "discard"


def test_equal_with_fewer_lines_is_kept_as_simpler(direction: str) -> None:
    candidate = Candidate(1.0, code_lines=90)
    best = Best(1.0, code_lines=100)
    assert judge(candidate, best, Policy(direction)) == Decision("keep", "simpler")


def test_equal_with_more_or_same_lines_is_not_simpler(direction: str) -> None:
    best = Best(1.0, code_lines=100)
    for lines in (100, 110):
        decision = judge(Candidate(1.0, code_lines=lines), best, Policy(direction))
        assert decision == Decision("discard", "not improved")


def test_simpler_needs_both_line_counts(direction: str) -> None:
    policy = Policy(direction)
    assert judge(Candidate(1.0, code_lines=1), Best(1.0), policy).status == "discard"
    assert judge(Candidate(1.0), Best(1.0, code_lines=100), policy).status == "discard"


def test_slightly_worse_within_min_delta_with_fewer_lines_is_simpler(direction: str) -> None:
    policy = Policy(direction, min_delta=0.05)
    candidate = Candidate(better(direction, 1.0, -0.01), code_lines=50)
    assert judge(candidate, Best(1.0, code_lines=60), policy) == Decision("keep", "simpler")


def test_clearly_worse_with_fewer_lines_is_discarded(direction: str) -> None:
    policy = Policy(direction, min_delta=0.05)
    candidate = Candidate(better(direction, 1.0, -0.1), code_lines=50)
    assert judge(candidate, Best(1.0, code_lines=60), policy) == Decision("discard", "not improved")


# --- min_delta ----------------------------------------------------------------------


def test_absolute_min_delta(direction: str) -> None:
    policy = Policy(direction, min_delta=0.05)
    assert judge(Candidate(better(direction, 1.0, 0.03)), Best(1.0), policy).reason == (
        "not improved"
    )
    assert judge(Candidate(better(direction, 1.0, 0.07)), Best(1.0), policy).reason == "improved"


def test_relative_min_delta_scales_with_the_best(direction: str) -> None:
    policy = Policy(direction, min_delta=0.01, min_delta_relative=True)  # 1 %
    assert threshold(Best(200.0), policy) == pytest.approx(2.0)
    assert threshold(Best(-200.0), policy) == pytest.approx(2.0)
    assert judge(Candidate(better(direction, 200.0, 1.5)), Best(200.0), policy).status == (
        "discard"
    )
    assert judge(Candidate(better(direction, 200.0, 2.5)), Best(200.0), policy).status == "keep"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.01", (0.01, False)),
        (" 0.01 ", (0.01, False)),
        ("0.5%", (0.005, True)),
        ("2 %", (0.02, True)),
        (0, (0.0, False)),
        (0.25, (0.25, False)),
        ("0", (0.0, False)),
    ],
)
def test_parse_min_delta(raw, expected) -> None:
    value, relative = parse_min_delta(raw)
    assert value == pytest.approx(expected[0])
    assert relative is expected[1]


@pytest.mark.parametrize("raw", ["-0.1", -1, "abc", "", "%", "1%%", "nan", "inf", True, "-5%"])
def test_parse_min_delta_rejects(raw) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_min_delta(raw)
    message = str(caught.value)
    assert message.startswith(f"min_delta: {raw!r} is not valid")
    assert "0.01" in message and "0.5%" in message
    assert "\n" not in message


# --- noise floor ----------------------------------------------------------------------


def test_noise_floor_is_twice_the_median_absolute_deviation() -> None:
    # median 1.0; deviations 0.1, 0, 0.1, 0.3, 0 -> median 0.1 -> floor 0.2
    assert noise_floor([0.9, 1.0, 1.1, 1.3, 1.0]) == pytest.approx(0.2)
    assert noise_floor([1.0, 1.0]) is None
    assert noise_floor([]) is None


def test_noise_floor_from_samples_discards_a_gain_inside_it(direction: str) -> None:
    best = Best(1.0, samples=(0.9, 1.0, 1.1))  # floor 0.2
    policy = Policy(direction, min_delta=0.01)
    assert threshold(best, policy) == pytest.approx(0.2)
    decision = judge(Candidate(better(direction, 1.0, 0.1)), best, policy)
    assert decision == Decision("discard", "within noise floor (±0.2)")
    assert judge(Candidate(better(direction, 1.0, 0.3)), best, policy).reason == "improved"


def test_noise_floor_needs_three_samples(direction: str) -> None:
    best = Best(1.0, samples=(0.5, 1.5))
    decision = judge(Candidate(better(direction, 1.0, 0.1)), best, Policy(direction))
    assert decision == Decision("keep", "improved")


def test_calibrated_noise_floor_overrides_samples(direction: str) -> None:
    best = Best(1.0, samples=(0.9, 1.0, 1.1), noise_floor=0.05)
    policy = Policy(direction)
    assert threshold(best, policy) == pytest.approx(0.05)
    assert judge(Candidate(better(direction, 1.0, 0.1)), best, policy).reason == "improved"
    decision = judge(Candidate(better(direction, 1.0, 0.03)), best, policy)
    assert decision == Decision("discard", "within noise floor (±0.05)")


def test_min_delta_larger_than_noise_floor_wins(direction: str) -> None:
    best = Best(1.0, noise_floor=0.05)
    policy = Policy(direction, min_delta=0.2)
    assert threshold(best, policy) == pytest.approx(0.2)
    decision = judge(Candidate(better(direction, 1.0, 0.1)), best, policy)
    assert decision == Decision("discard", "not improved")


def test_equal_within_noise_with_fewer_lines_is_simpler(direction: str) -> None:
    best = Best(1.0, noise_floor=0.2, code_lines=10)
    candidate = Candidate(better(direction, 1.0, -0.1), code_lines=9)
    assert judge(candidate, best, Policy(direction)) == Decision("keep", "simpler")


# --- helpers -------------------------------------------------------------------------


def test_improvement_sign() -> None:
    assert improvement(0.9, 1.0, "lower_is_better") == pytest.approx(0.1)
    assert improvement(0.9, 1.0, "higher_is_better") == pytest.approx(-0.1)
    with pytest.raises(ValueError):
        improvement(0.9, 1.0, "sideways")


@pytest.mark.parametrize(("how", "expected"), [("median", 2.0), ("min", 1.0), ("mean", 7 / 3)])
def test_aggregate(how: str, expected: float) -> None:
    assert aggregate([4.0, 1.0, 2.0], how) == pytest.approx(expected)


def test_aggregate_rejects_empty_and_unknown() -> None:
    with pytest.raises(ValueError):
        aggregate([], "median")
    with pytest.raises(ValueError):
        aggregate([1.0], "max")


def test_policy_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="metric_direction: 'up' is not valid"):
        Policy("up")
    with pytest.raises(ConfigError, match="aggregate: 'max' is not valid"):
        Policy("lower_is_better", aggregate="max")
    with pytest.raises(ConfigError, match="min_delta: -1 is not valid"):
        Policy("lower_is_better", min_delta=-1)


# --- code_lines -----------------------------------------------------------------------

PYTHON = '''#!/usr/bin/env python
"""Docstrings count as code."""

# a comment
import os  # trailing comment: still code
    # indented comment

x = "# not a comment"
'''

C_LIKE = """// line comment
#include <stdio.h>
/* block
   comment */
int x = 1; /* trailing */
/* a */ int y = 2;
/* one-line block */

int z = 3; // trailing
   /** doc
    * comment
    */
"""

SQL = """-- comment
SELECT 1;

  -- indented comment
SELECT 2; -- trailing
"""


@pytest.mark.parametrize(
    ("text", "filename", "expected"),
    [
        (PYTHON, "train.py", 3),
        (PYTHON, "run.sh", 3),
        (PYTHON, "config.yaml", 3),
        (PYTHON, "analysis.R", 3),
        (PYTHON, "Makefile", 3),  # unknown extension: '#'
        (C_LIKE, "main.c", 4),
        (C_LIKE, "index.ts", 4),
        (C_LIKE, "Main.java", 4),
        (C_LIKE, "lib/main.dart", 4),
        (C_LIKE, "main.go", 4),
        (C_LIKE, "lib.rs", 4),
        (SQL, "query.sql", 2),
        (SQL, "init.lua", 2),
        (SQL, "Main.hs", 2),
        ("", "empty.py", 0),
        ("\n\n   \n", "blank.js", 0),
    ],
)
def test_code_lines(text: str, filename: str, expected: int) -> None:
    assert code_lines(text, filename) == expected


def test_code_lines_syntax_follows_the_extension() -> None:
    text = "// js comment\n# py comment\n-- sql comment\n"
    assert code_lines(text, "a.py") == 2
    assert code_lines(text, "a.js") == 2
    assert code_lines(text, "a.sql") == 2
    assert code_lines(text, "A.JS") == 2
