"""Tests for autoresearch.search.nearmiss: the pool of discards close to the best."""

from __future__ import annotations

import pytest

from autoresearch.decide import Best
from autoresearch.search.nearmiss import BRANCH, COMBINE, NearMiss, NearMissPool, margin


def miss(number: int, value: float, base: str = "b0") -> NearMiss:
    return NearMiss(number, f"c{number}", base, value, f"idea {number}")


def test_the_margin_is_configured_or_twice_the_noise_floor_or_half_a_percent():
    assert margin(Best(2.0), 0.01) == 0.01
    assert margin(Best(2.0), 0.01, relative=True) == pytest.approx(0.02)
    assert margin(Best(2.0, noise_floor=0.003)) == 0.006
    assert margin(Best(2.0, samples=(1.0, 1.1, 1.3))) == pytest.approx(0.4)  # 2 x (2 x MAD)
    assert margin(Best(-2.0)) == pytest.approx(0.01)


def test_a_near_miss_is_pooled_with_its_base():
    pool = NearMissPool(size=5)
    assert pool.offer(miss(4, 1.004, base="abc1234"), best_value=1.0, within=0.005)
    assert pool.misses == [miss(4, 1.004, base="abc1234")]
    plan = pool.plan(pivot_number=1)
    assert (plan.kind, plan.misses[0].base, plan.misses[0].commit) == (BRANCH, "abc1234", "c4")


@pytest.mark.parametrize("direction, close, far", [
    ("lower_is_better", 1.004, 1.006),
    ("higher_is_better", 0.996, 0.994),
])
def test_only_discards_within_the_margin_are_pooled(direction, close, far):
    pool = NearMissPool(size=5, direction=direction)
    assert not pool.offer(miss(1, far), 1.0, 0.005)
    assert pool.offer(miss(2, close), 1.0, 0.005)
    assert pool.offer(miss(3, 1.0), 1.0, 0.005)  # equal to the best (a tie) is close too
    assert [m.number for m in pool.misses] == [3, 2]


def test_the_pool_keeps_the_closest_and_a_keep_drops_the_ones_left_behind():
    pool = NearMissPool(size=2)
    for number, value in ((1, 1.003), (2, 1.001), (3, 1.002), (4, 1.004)):
        pool.offer(miss(number, value), 1.0, 0.005)
    assert [m.number for m in pool.misses] == [2, 3]
    pool.after_keep(best_value=0.9985, within=0.003)
    assert [m.number for m in pool.misses] == [2]
    assert not NearMissPool(size=0).offer(miss(9, 1.0), 1.0, 0.005)


def test_pivots_alternate_branch_and_combine_and_use_each_near_miss_once():
    pool = NearMissPool(size=5)
    for number, value in ((1, 1.001), (2, 1.002), (3, 1.003), (4, 1.004)):
        pool.offer(miss(number, value), 1.0, 0.005)
    first, second = pool.plan(1), pool.plan(2)
    assert (first.kind, [m.number for m in first.misses]) == (BRANCH, [1])
    assert (second.kind, [m.number for m in second.misses]) == (COMBINE, [2, 3])
    third = pool.plan(4)  # a combine needs two: one is left, so it branches
    assert (third.kind, [m.number for m in third.misses]) == (BRANCH, [4])
    assert pool.plan(1) is None
