"""A fast smoke test of bench/bench_search.py: the simulated loop and the printed comparison."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("optuna")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_search  # noqa: E402
from search_loop import SCREEN_COST, simulate  # noqa: E402
from search_problem import Problem  # noqa: E402


@pytest.fixture(scope="module")
def problem() -> Problem:
    return Problem(4)


def test_the_benchmark_prints_the_comparison(capsys):
    assert bench_search.main(["--seeds", "2", "--budget", "12"]) == 0
    out = capsys.readouterr().out
    for strategy in bench_search.MAIN:
        assert f"| {strategy.name} |" in out
    assert "| greedy | " in out and "runs to greedy's @12" in out


def test_the_simulation_is_deterministic(problem):
    first = simulate(problem, bench_search.DEFAULT, 4, 25)
    again = simulate(problem, bench_search.DEFAULT, 4, 25)
    assert (first.best, first.counts) == (again.best, again.counts)


def test_duplicates_are_not_run(problem):
    run = simulate(problem, bench_search.NOVELTY, 4, 40)
    experiments = run.counts["keep"] + run.counts["discard"] + run.counts["crash"]
    assert run.counts["duplicate"] > 0
    assert experiments == len(run.costs) == 40  # every experiment is one run; duplicates none
    greedy = simulate(problem, bench_search.GREEDY, 4, 40)
    assert greedy.counts["duplicate"] == 0 and greedy.counts["reused"] > 0


def test_a_plateau_pivots_and_branches_from_a_near_miss(problem):
    run = simulate(problem, replace(bench_search.DEFAULT, pivot_after=2), 4, 40)
    assert run.counts["pivot"] > 0
    assert run.counts["branch"] > 0


def test_screening_skips_full_runs(problem):
    run = simulate(problem, bench_search.SCREEN, 4, 20)
    experiments, full_runs = len(run.costs), run.counts["full run"]
    assert run.counts["screened out"] > 0
    # every candidate (and the baseline) was screened; only those that passed ran in full
    assert run.costs[-1] == pytest.approx(SCREEN_COST * (experiments + 1) + full_runs)
    assert run.saved_s == pytest.approx((experiments - full_runs) - SCREEN_COST * experiments)


def test_the_hybrid_gives_the_tuner_its_share(problem):
    run = simulate(problem, bench_search.HYBRID, 4, 20)
    assert 0 < run.counts["tune"] < run.counts["model"]
