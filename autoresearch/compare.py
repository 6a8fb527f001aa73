"""``compare: paired``: the candidate and the best measured in pairs, judged after each pair.

The coordinator runs candidate, best, candidate, best ... (the same seed within a pair where
the run takes one) and calls :func:`paired_step` with all the samples so far after each
pair. It answers ``keep``, ``discard`` or ``continue``; measuring stops at the first answer
that is not ``continue``, and at the latest after ``repeats`` pairs.

The rule, on the paired improvements ``d_i`` (``best_i - candidate_i`` when lower is better,
``candidate_i - best_i`` when higher is), their mean ``m_n`` and standard deviation ``s_n``
after ``n`` pairs, with ``se_n = s_n / sqrt(n)``:

- no decision before the third pair (the spread needs a few pairs to be estimated);
- **keep** at look ``n`` when ``(m_n - min_delta) / se_n >= u_n``;
- **discard** at look ``n < repeats`` when ``(m_n - worth) / se_n <= -f_n``: the 90 % upper
  confidence bound of the improvement is below ``worth``, the smallest gain worth more runs;
- **discard** at the last look when it did not keep.

``u_n`` is a group-sequential boundary of O'Brien-Fleming shape: the t with the same one-sided
tail probability as the z value ``C_N · sqrt(N / n)`` (N = repeats). ``C_N`` is derived so that
a change with no effect is kept with probability at most 2.5 % (one-sided) over all the looks
together, for the t statistic itself (``bench/derive_boundaries.py``; tested by
tests/test_compare.py). Early looks demand overwhelming evidence, the last look little more
than a fixed-size t-test at 2.5 %. ``f_n`` is the one-sided 10 % t quantile (β = 10 %, the
conventional type II error): a discard never raises the false-keep rate, it only stops the
runs early, at some cost in power for gains near ``worth`` (docs/measurement.md measures it).

``confidence`` is 1 − the one-sided p-value of the paired t-test that the improvement exceeds
``min_delta``, on the pairs measured so far: the confidence that the candidate is better. It
is not adjusted for the looks (the keep boundary is): a keep at look n has at least the
``keep_confidence`` of :func:`boundaries` at n, e.g. 98.3 % at the 8th of 8 pairs.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from autoresearch.decide import improvement
from autoresearch.errors import ConfigError
from autoresearch.tdist import t_isf, t_sf

ALPHA = 0.025  # the one-sided false-keep rate the keep boundaries are derived for
BETA = 0.10  # a discard needs the improvement's (1 - BETA) upper confidence bound below worth
FIRST_LOOK = 3  # the first pair count at which the rule may decide
MAX_REPEATS = 50
# C_N for N = FIRST_LOOK ... MAX_REPEATS, from bench/derive_boundaries.py (4·10^6 paths)
OBF_CONSTANTS = (
    1.97, 2.06, 2.10, 2.11, 2.13, 2.13, 2.14, 2.15, 2.15, 2.15, 2.16, 2.16,
    2.16, 2.16, 2.16, 2.17, 2.17, 2.17, 2.17, 2.17, 2.17, 2.17, 2.18, 2.18,
    2.18, 2.18, 2.18, 2.18, 2.18, 2.18, 2.18, 2.18, 2.18, 2.18, 2.18, 2.18,
    2.19, 2.19, 2.19, 2.19, 2.19, 2.19, 2.19, 2.19, 2.19, 2.19, 2.19, 2.19,
)


@dataclass(frozen=True)
class Step:
    """What the paired rule says after the pairs measured so far."""

    decision: str  # "keep" | "discard" | "continue"
    reason: str  # "improved" | "not improved" | "measuring"
    pairs: int
    confidence: float | None  # P(improvement > min_delta) by the paired t-test; None before 2 pairs
    improvement: float | None  # mean improvement per pair (positive: the candidate is better)


def check_repeats(repeats: int) -> None:
    """ConfigError unless ``repeats`` is a number of pairs the rule has boundaries for."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not (
            FIRST_LOOK <= repeats <= MAX_REPEATS):
        raise ConfigError(f"repeats: {repeats!r} does not suit compare: paired; use a whole "
                          f"number from {FIRST_LOOK} to {MAX_REPEATS} (pairs of runs)")


@dataclass(frozen=True)
class Look:
    """The boundaries after ``pairs`` pairs, on the paired t statistic."""

    pairs: int
    keep_t: float  # keep when (mean - min_delta) / se reaches this
    keep_confidence: float  # the nominal confidence a keep here has at least: 1 − its p-value
    discard_t: float  # discard (before the last look) when (mean - worth) / se is at most -this


@functools.cache
def boundaries(repeats: int) -> tuple[Look, ...]:
    """The looks of a paired comparison of up to ``repeats`` pairs, from the third pair on."""
    check_repeats(repeats)
    constant = OBF_CONSTANTS[repeats - FIRST_LOOK]
    looks = []
    for n in range(FIRST_LOOK, repeats + 1):
        p = NormalDist().cdf(-constant * math.sqrt(repeats / n))
        looks.append(Look(n, t_isf(p, n - 1), 1.0 - p, t_isf(BETA, n - 1)))
    return tuple(looks)


def _differences(candidate: Sequence[float], best: Sequence[float], direction: str,
                 repeats: int) -> list[float]:
    if len(candidate) != len(best):
        raise ValueError(f"paired samples must pair up: {len(candidate)} candidate, "
                         f"{len(best)} best")
    if len(candidate) > repeats:
        raise ValueError(f"{len(candidate)} pairs measured, more than repeats ({repeats})")
    if not all(math.isfinite(x) for x in (*candidate, *best)):
        raise ValueError("paired samples must be finite numbers (a crash is not a sample)")
    return [improvement(c, b, direction) for c, b in zip(candidate, best)]


def paired_step(candidate: Sequence[float], best: Sequence[float], *, direction: str,
                repeats: int, min_delta: float = 0.0, worth: float | None = None) -> Step:
    """Keep, discard or continue after ``len(candidate)`` pairs (the rule in the docstring).

    ``candidate[i]`` and ``best[i]`` are the i-th pair; ``min_delta`` is the absolute gain a
    keep must beat; ``worth`` (at least ``min_delta``; default ``min_delta``) is the smallest
    gain worth more runs: a candidate shown not to reach it is discarded early.
    """
    diffs = _differences(candidate, best, direction, repeats)
    n = len(diffs)
    worth = max(min_delta, min_delta if worth is None else worth)
    mean = statistics.fmean(diffs) if diffs else None
    if n < 2:
        return Step("continue", "measuring", n, None, mean)
    se = statistics.stdev(diffs) / math.sqrt(n)
    t_keep = _t(mean - min_delta, se)
    confidence = 1.0 - t_sf(t_keep, n - 1)
    if n < FIRST_LOOK:
        return Step("continue", "measuring", n, confidence, mean)
    look = boundaries(repeats)[n - FIRST_LOOK]
    if t_keep >= look.keep_t:
        return Step("keep", "improved", n, confidence, mean)
    if n == repeats or _t(mean - worth, se) <= -look.discard_t:
        return Step("discard", "not improved", n, confidence, mean)
    return Step("continue", "measuring", n, confidence, mean)


def _t(excess: float, se: float) -> float:
    """``excess / se``; pairs that all differ by the same amount leave no doubt: ±inf."""
    if se > 0:
        return excess / se
    return math.inf if excess > 0 else -math.inf
