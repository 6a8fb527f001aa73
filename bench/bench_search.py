"""How good is the search? Strategies compared on seeded synthetic research problems.

    python bench/bench_search.py                 # the comparison, 60 seeds (about 3 minutes)
    python bench/bench_search.py --sweep         # also the settings behind the defaults
    python bench/bench_search.py --seeds 100 --first-seed 1000   # other problems
    python bench/bench_search.py --seeds 3 --budget 20     # a quick look

Each seed is a problem (bench/search_problem.py) and a stand-in model
(bench/search_proposer.py); each strategy runs the simulated loop (bench/search_loop.py)
on it for ``--budget`` full runs. The figure is the gap closed: the share of the way from
the baseline to the best possible value that the best kept tree has come (its true value,
not its lucky measurement), in percent. The table gives its median over seeds after 25,
50 and 100 runs; how many runs the median needs to reach greedy's median after 100; the
paired difference from greedy at 100 (the median over seeds, with a bootstrap 90 %
interval); agent calls per experiment (duplicates and no-change proposals are the rest);
keeps per run; and how many runs ended early on ``agent_max_failures``. Everything is
seeded: the same command prints the same numbers.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search_loop import Run, Strategy, simulate  # noqa: E402
from search_problem import NOISE, Problem  # noqa: E402
from search_proposer import Behaviour  # noqa: E402

from autoresearch.search import nearmiss  # noqa: E402

CHECKPOINTS = (25, 50, 100)
GREEDY = Strategy("greedy")
NOVELTY = replace(GREEDY, name="+ duplicates skipped", novelty=True, same_change=True)
PIVOTS = replace(NOVELTY, name="+ plateau pivots (8)", pivot_after=8)
DEFAULT = replace(PIVOTS, name="+ near-misses (5): the default", near_miss_pool=5)
HYBRID = replace(DEFAULT, name="default, agent claude+tune (0.3)", tune_share=0.3)
SCREEN = replace(DEFAULT, name="default + screening (2 %)", screen_margin=0.02)
TUNE_ONLY = Strategy("tune alone (reference)", novelty=True, tune_only=True)
MAIN = (GREEDY, NOVELTY, PIVOTS, DEFAULT, HYBRID, SCREEN, TUNE_ONLY)
SWEEP = (
    replace(DEFAULT, name="default, duplicates = same code only", same_change=False),
    *(replace(DEFAULT, name=f"default, pivot_after {k}", pivot_after=k) for k in (4, 6, 12)),
    *(replace(DEFAULT, name=f"default, near_miss_pool {n}", near_miss_pool=n) for n in (0, 10)),
    replace(DEFAULT, name="default, pivots only branch", plans=(nearmiss.BRANCH,)),
    replace(DEFAULT, name="default, pivots only combine", plans=(nearmiss.COMBINE,)),
    replace(DEFAULT, name="default, directions of all experiments",
            directions_since_keep=False),
    *(replace(HYBRID, name=f"hybrid, tune_share {s}", tune_share=s) for s in (0.15, 0.5)),
    replace(HYBRID, name="hybrid, restart from the best 10", warm_points=10),
    replace(HYBRID, name="hybrid, one study (no restart)", warm_points=None),
    replace(HYBRID, name="hybrid, the model answers its own duplicates",
            tuner_answers_repeats=False),
    *(replace(SCREEN, name=f"screening, margin {m:g} %", screen_margin=m / 100)
      for m in (0.5, 1, 5)),
    replace(SCREEN, name="screening, a screen costing 10 % of a run", screen_cost=0.1),
)
DEAF = Behaviour(obedience=0.0)  # the model ignores what the prompt asks


def run_all(strategies, seeds: int, budget: float, behaviour: Behaviour = Behaviour(),
            first_seed: int = 0):
    """The problems, and {strategy name: [Run per problem]}."""
    problems = [Problem(seed) for seed in range(first_seed, first_seed + seeds)]
    runs = {}
    for strategy in strategies:
        runs[strategy.name] = [simulate(problem, strategy, problem.seed, budget, behaviour)
                               for problem in problems]
    return problems, runs


def gaps(problem: Problem, run: Run, budget: float) -> float:
    return problem.gap_closed(run.best_at(budget, problem.baseline))


def curve(problems, runs, budget: int) -> list[float]:
    """The median over seeds of the gap closed after 1, 2, ... ``budget`` full runs."""
    return [statistics.median(gaps(p, r, n) for p, r in zip(problems, runs))
            for n in range(1, budget + 1)]


def needed(median_curve: list[float], target: float) -> float:
    """The fewest full runs after which the median gap closed reaches ``target``."""
    return next((n for n, gap in enumerate(median_curve, 1) if gap >= target), math.inf)


def bootstrap(diffs: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(diffs, k=len(diffs)))
                     for _ in range(rounds))
    return medians[int(0.05 * rounds)], medians[int(0.95 * rounds) - 1]


def table(problems, runs, budget: int) -> list[str]:
    final = min(budget, CHECKPOINTS[-1])
    base = [gaps(p, r, final) for p, r in zip(problems, runs[GREEDY.name])]
    target = statistics.median(base)
    points = [c for c in CHECKPOINTS if c <= budget]
    head = ["strategy", *(f"gap closed @{c}" for c in points),
            f"runs to greedy's @{final} ({target:.1f})", f"vs greedy @{final} (90 % CI)",
            "agent calls / run", "keeps", "ended early"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, seed_runs in runs.items():
        median_curve = curve(problems, seed_runs, final)
        at = [median_curve[c - 1] for c in points]
        reach = needed(median_curve, target)
        diffs = [gaps(p, r, final) - g for p, r, g in zip(problems, seed_runs, base)]
        low, high = bootstrap(diffs)
        counts = sum((r.counts for r in seed_runs), Counter())
        experiments = counts["keep"] + counts["discard"] + counts["crash"]
        calls = experiments + counts["duplicate"] + counts["no change"]
        lines.append("| " + " | ".join([
            name, *(f"{a:.1f}" for a in at),
            f"{reach:.0f}" if math.isfinite(reach) else f"> {final}",
            f"{statistics.median(diffs):+.1f} ({low:+.1f}, {high:+.1f})",
            f"{calls / max(1, experiments):.2f}", f"{counts['keep'] / len(seed_runs):.1f}",
            f"{counts['ended early']}",
        ]) + " |")
    return lines


def noise_in_gap(problems) -> float:
    return statistics.median(100 * NOISE / (p.baseline - p.best_possible) for p in problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--budget", type=int, default=100, help="full runs per strategy")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help="also the settings sweep")
    args = parser.parse_args(argv)
    started = time.monotonic()
    sections = [("Strategies", MAIN, Behaviour())]
    if args.sweep:
        sections += [("Settings (default unless named)", (GREEDY, DEFAULT, *SWEEP), Behaviour()),
                     ("A model that ignores the prompt (obedience 0)", MAIN, DEAF)]
    for title, strategies, behaviour in sections:
        problems, runs = run_all(strategies, args.seeds, args.budget, behaviour,
                                 args.first_seed)
        print(f"\n## {title}: {args.seeds} seeds, {args.budget} full runs; one measurement's "
              f"noise is {noise_in_gap(problems):.1f} points of gap\n")
        print("\n".join(table(problems, runs, args.budget)))
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
