"""Tests for autoresearch.search.sections: what the prompt says at a pivot and after a
duplicate."""

from __future__ import annotations

from autoresearch.search.directions import Direction
from autoresearch.search.nearmiss import BRANCH, COMBINE, NearMiss, PivotPlan
from autoresearch.search.novelty import Duplicate, Past, Similar
from autoresearch.search.sections import CHANGE_LINES, duplicate, pivot

TRIED = [Direction("learning, rate, lr", (3, 5, 9), 0, 0.004),
         Direction("norm, rms", (4,), 1, None)]


def miss(number: int, lines: int = 2) -> NearMiss:
    diff = ("-LR = 0.04", "+LR = 0.05") if lines == 2 else tuple(f"+x{i}" for i in range(lines))
    return NearMiss(number, f"c{number}", "b", 1.001, f"idea\n{number}", diff)


def test_a_pivot_lists_the_directions_tried():
    text = pivot(TRIED, None, 8)
    assert text.splitlines() == [
        "## Plateau: 8 experiments in a row without a keep",
        "Try a different direction from those below.",
        "Directions already tried since the last keep (most tried first):",
        "- learning, rate, lr: 3 tried (#3, #5, #9), 0 kept, best delta +0.004",
        "- norm, rms: 1 tried (#4), 1 kept",
    ]


def test_a_branch_pivot_names_the_near_miss_and_shows_its_change():
    text = pivot([], PivotPlan(BRANCH, (miss(6),)), 16)
    assert "start from a near-miss instead of the best: #6 (idea 6), 1.001" in text
    assert text.endswith("    -LR = 0.04\n    +LR = 0.05")


def test_a_combine_pivot_shows_both_changes_bounded():
    text = pivot(TRIED, PivotPlan(COMBINE, (miss(6), miss(7, lines=CHANGE_LINES + 3))), 8)
    assert "Combine these two near-misses" in text
    assert "#6 (idea 6), 1.001:\n    -LR = 0.04\n    +LR = 0.05\n#7 (idea 7)" in text
    assert text.endswith(f"    +x{CHANGE_LINES - 1}\n    [... 3 more lines]")


def test_the_ask_after_a_duplicate_shows_the_most_similar_experiments():
    similar = [Similar(0.8, Past(3, "discard", "raise the learning rate", (), 0.004)),
               Similar(0.4, Past(1, "keep", "", (), -0.01))]
    text = duplicate(Duplicate(3, "same code as #3 (whitespace and comments aside)"), similar)
    assert text.splitlines() == [
        "## Your last proposal was not run: same code as #3 (whitespace and comments aside)",
        "Make a change that was not tried before.",
        "The past experiments most like it, and how they did:",
        "- #3 discard, delta +0.004: raise the learning rate",
        "- #1 keep, delta -0.01: (no description)",
    ]
