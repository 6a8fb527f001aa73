"""Plateaus: after ``pivot_after`` experiments in a row without a keep, ask for a different
direction; after ``stop_after_plateau`` of them, stop (reason "plateau").

Everything follows from the statuses of the experiments so far, so a resumed loop is in
the same state as the one that stopped: the coordinator keeps nothing but its history.
Duplicates and agent failures are not experiments and do not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from autoresearch.errors import ConfigError

PIVOT_AFTER = 8
CONTINUE, PIVOT, STOP = "continue", "pivot", "stop"


def since_keep(statuses: Iterable[str]) -> int:
    """How many experiments (keep, discard or crash) came after the last keep."""
    count = 0
    for status in statuses:
        count = 0 if status == "keep" else count + 1
    return count


@dataclass(frozen=True)
class Plateau:
    pivot_after: int = PIVOT_AFTER
    stop_after: int | None = None  # stop_after_plateau; None: never

    def __post_init__(self) -> None:
        if self.pivot_after < 1:
            raise ConfigError(f"pivot_after: {self.pivot_after!r} is not valid; "
                              "use a whole number >= 1")
        if self.stop_after is not None and self.stop_after < 1:
            raise ConfigError(f"stop_after_plateau: {self.stop_after!r} is not valid; "
                              "use a whole number >= 1")

    def next_step(self, without_keep: int) -> str:
        """STOP, PIVOT (this prompt asks for another direction) or CONTINUE."""
        if self.stop_after is not None and without_keep >= self.stop_after:
            return STOP
        if without_keep and without_keep % self.pivot_after == 0:
            return PIVOT
        return CONTINUE

    def pivot_number(self, without_keep: int) -> int:
        """1 for the first pivot of this plateau, 2 for the second, ..."""
        return without_keep // self.pivot_after
