"""Near-misses: discarded candidates within ``near_miss`` of the best, kept in a small pool.

A candidate is a near-miss when it was measured (not crashed), discarded, and is worse
than the best by at most the margin (a "within noise floor" discard, better but not by
enough, is one too). The margin is ``near_miss`` when configured (absolute, or a fraction
of ``|best|`` for "0.5%"), else twice the noise floor when one is known, else 0.5 % of
``|best|``. The pool holds the ``size`` closest to the best; after a keep, the ones no
longer within the margin of the new best leave it.

At a pivot the loop branches from one near-miss (the next candidate is made on its tree
and its commit is logged as the candidate's ``base``) or asks the agent to combine two
(the next candidate is made on the best, the prompt carries both changes). Each near-miss
is used once. The experiment branch still holds only kept commits: a candidate made on a
near-miss that wins is committed on the best with its own tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoresearch.decide import Best, improvement, noise_floor

POOL_SIZE = 5
DEFAULT_FRACTION = 0.005  # 0.5 % of |best| when no noise floor is known
BRANCH, COMBINE = "branch", "combine"


@dataclass(frozen=True)
class NearMiss:
    number: int
    commit: str  # the candidate's commit: its tree is what a branch starts from
    base: str  # the best it was made on
    value: float
    description: str
    diff: tuple[str, ...] = ()  # its diff against its base (unified, by line) for the prompt


@dataclass(frozen=True)
class PivotPlan:
    kind: str  # BRANCH (from misses[0]) or COMBINE (misses[0] and misses[1] on the best)
    misses: tuple[NearMiss, ...]


def margin(best: Best, near_miss: float | None = None, relative: bool = False) -> float:
    """How much worse than the best a near-miss may be; see the module docstring."""
    if near_miss is not None:
        return near_miss * abs(best.value) if relative else near_miss
    floor = best.noise_floor if best.noise_floor is not None else noise_floor(best.samples)
    if floor:
        return 2 * floor
    return DEFAULT_FRACTION * abs(best.value)


@dataclass
class NearMissPool:
    size: int = POOL_SIZE
    direction: str = "lower_is_better"
    misses: list[NearMiss] = field(default_factory=list)  # closest to the best first

    def offer(self, miss: NearMiss, best_value: float, within: float) -> bool:
        """Pool a discarded candidate if it is close enough and among the ``size`` closest."""
        if self.size <= 0 or improvement(miss.value, best_value, self.direction) < -within:
            return False
        self.misses.append(miss)
        self._order()
        del self.misses[self.size:]
        return miss in self.misses

    def after_keep(self, best_value: float, within: float) -> None:
        """Drop the near-misses that are no longer within ``within`` of the new best."""
        self.misses = [m for m in self.misses
                       if improvement(m.value, best_value, self.direction) >= -within]

    def plan(self, pivot_number: int) -> PivotPlan | None:
        """What this pivot does, and take the near-misses it uses out of the pool.

        Odd pivots branch from the closest near-miss, even ones combine the two closest;
        with fewer near-misses than a plan needs, the other plan or none (a plain pivot).
        """
        kinds = (BRANCH, COMBINE) if pivot_number % 2 else (COMBINE, BRANCH)
        for kind in kinds:
            need = 2 if kind == COMBINE else 1
            if len(self.misses) >= need:
                used, self.misses = self.misses[:need], self.misses[need:]
                return PivotPlan(kind, tuple(used))
        return None

    def _order(self) -> None:
        sign = 1 if self.direction == "lower_is_better" else -1
        self.misses.sort(key=lambda m: (sign * m.value, -m.number))
