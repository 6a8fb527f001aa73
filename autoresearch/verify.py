"""``finalize --verify``: does each kept change still earn its place in the final tree?

For one kept change the coordinator measures the final tree as it stands (``with_change``)
and the same tree with that change reverted (``without_change``), ``repeats`` runs each. The
change's *contribution* is how much better the metric is with it than without it
(``decide.improvement`` of the two aggregates: positive means the change helps). Then:

- **keep "contributes"** — the contribution exceeds the noise floor;
- **keep "simpler"** — the change removes code lines (``lines_removed > 0``) and reverting it
  would not make the metric better beyond the noise floor (a simplification that costs
  nothing is kept, as the loop's "simpler" rule kept it);
- **drop "hurts"** — reverting it makes the metric better beyond the noise floor;
- **drop "within noise floor"** — anything else: its removal does not make the metric worse
  beyond the noise floor, and it is not a simplification.

The noise floor is the one given (the calibrated floor), else the larger of the two sample
sets' floors (``decide.noise_floor``: 2 × MAD, from 3 samples up), else 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoresearch import decide


@dataclass(frozen=True)
class Verdict:
    decision: str  # "keep" | "drop"
    reason: str  # "contributes" | "simpler" | "hurts" | "within noise floor"
    contribution: float  # oriented like decide.improvement: positive means the change helps
    floor: float  # the noise floor it was judged against

    @property
    def kept(self) -> bool:
        return self.decision == "keep"


def verdict(with_change: Sequence[float], without_change: Sequence[float], *, direction: str,
            noise_floor: float | None, lines_removed: int, how: str = "median") -> Verdict:
    """The verdict on one kept change (see the module doc); ``how`` combines the repeats."""
    contribution = decide.improvement(decide.aggregate(with_change, how),
                                      decide.aggregate(without_change, how), direction)
    floor = noise_floor
    if floor is None:
        floors = (decide.noise_floor(with_change), decide.noise_floor(without_change))
        floor = max((f for f in floors if f is not None), default=0.0)
    if contribution > floor:
        return Verdict("keep", "contributes", contribution, floor)
    if contribution < -floor:
        return Verdict("drop", "hurts", contribution, floor)
    if lines_removed > 0:
        return Verdict("keep", "simpler", contribution, floor)
    return Verdict("drop", "within noise floor", contribution, floor)
