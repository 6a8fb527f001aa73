"""A seeded noisy fixture whose truth is known, and the keep rules run on it: ``from noisy import``.

One measurement of a program is its true value plus Gaussian noise of standard deviation
``SIGMA`` (lower is better, like val_bpb). The best's true value is ``TRUE_BEST``; a
candidate's is ``TRUE_BEST - effect * SIGMA``: effect 0 is a change that does nothing, effect 2
a real improvement of 2σ. With ``drift`` (in σ), every session of measurements (the best's
when it was kept, the candidate's now) is also shifted by its own Gaussian offset: the
machine, its load or its caches changed in between. Each ``*_keeps`` function decides
``trials`` such candidates with one ``random.Random(seed)`` and returns how many were kept
and how many runs that took, so every rate is the same on every machine.
bench/bench_compare.py prints them as a table.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from autoresearch import decide
from autoresearch.compare import paired_step

TRUE_BEST = 1.0
SIGMA = 0.01
DIRECTION = "lower_is_better"
CALIBRATION_RUNS = 5  # setup --calibrate 5
POLICY = decide.Policy(DIRECTION)


@dataclass(frozen=True)
class Tally:
    trials: int
    kept: int
    runs: int  # measurements taken in all, the candidate's and any of the best's

    @property
    def keep_rate(self) -> float:
        return self.kept / self.trials

    @property
    def runs_per_candidate(self) -> float:
        return self.runs / self.trials


def measure(rng: random.Random, effect: float, offset: float = 0.0) -> float:
    """One noisy measurement of a program ``effect`` σ better than the best (0: the best),
    in a session shifted by ``offset``."""
    return TRUE_BEST - effect * SIGMA + offset + rng.gauss(0.0, SIGMA)


def session_offset(rng: random.Random, drift: float) -> float:
    return rng.gauss(0.0, drift * SIGMA) if drift else 0.0


def calibrated_floor(rng: random.Random) -> float:
    """The noise floor ``setup --calibrate`` would log: 2 × MAD of the best's runs (one
    session, so drift does not show in it)."""
    return decide.noise_floor([measure(rng, 0.0) for _ in range(CALIBRATION_RUNS)])


def _tally(trials: int, seed: int, decide_one: Callable[[random.Random], tuple[bool, int]]
           ) -> Tally:
    rng = random.Random(seed)
    kept = runs = 0
    for _ in range(trials):
        keep, used = decide_one(rng)
        kept += keep
        runs += used
    return Tally(trials, kept, runs)


def plain_keeps(effect: float, trials: int, seed: int, *, repeats: int = 1,
                calibrated: bool = False, drift: float = 0.0) -> Tally:
    """decide.judge as the loop runs it: the best measured ``repeats`` times when it was kept,
    the candidate ``repeats`` times now; with a calibrated noise floor when ``calibrated``."""
    def one(rng: random.Random) -> tuple[bool, int]:
        floor = calibrated_floor(rng) if calibrated else None
        then, now = session_offset(rng, drift), session_offset(rng, drift)
        best = [measure(rng, 0.0, then) for _ in range(repeats)]
        candidate = [measure(rng, effect, now) for _ in range(repeats)]
        decision = decide.judge(
            decide.Candidate(decide.aggregate(candidate, "median"), tuple(candidate)),
            decide.Best(decide.aggregate(best, "median"), tuple(best), noise_floor=floor),
            POLICY)
        return decision.status == "keep", repeats

    return _tally(trials, seed, one)


def paired_keeps(effect: float, trials: int, seed: int, *, repeats: int = 8,
                 worth_floor: bool = False, drift: float = 0.0) -> Tally:
    """The coordinator's loop for ``compare: paired``: candidate, best, candidate, best ...
    (all in one session) until the rule decides; ``worth_floor`` passes the calibrated noise
    floor as ``worth``."""
    def one(rng: random.Random) -> tuple[bool, int]:
        worth = calibrated_floor(rng) if worth_floor else None
        now = session_offset(rng, drift)
        candidate: list[float] = []
        best: list[float] = []
        while True:
            candidate.append(measure(rng, effect, now))
            best.append(measure(rng, 0.0, now))
            step = paired_step(candidate, best, direction=DIRECTION, repeats=repeats,
                               worth=worth)
            if step.decision != "continue":
                return step.decision == "keep", 2 * step.pairs

    return _tally(trials, seed, one)
