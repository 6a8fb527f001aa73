"""Screening: a cheaper run (``screen_command``) decides whether a candidate earns the full run.

A candidate goes on to the full run when its screened metric is within ``screen_margin``
of the best's screened value (absolute, or a fraction of ``|best's|`` for "2%"), better
or worse; otherwise it is a discard with the reason "screened out". A crash in screening
is a crash. When the best has no screened value yet (the baseline, or a loop resumed
with screening newly on), every candidate goes on: the coordinator screens the best
once and records the value. A kept candidate's screened value becomes the best's.

``Savings`` accounts the time: what the screens cost, and the full runs they spared (a
candidate screened out or crashed in screening), each valued at the median duration of
the full runs measured so far.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from autoresearch.decide import Decision, improvement

SCREEN_MARGIN = "2%"
SCREENED_OUT = "screened out"


def allowed(best_screened: float, screen_margin: float, relative: bool) -> float:
    """The margin as an absolute amount."""
    return screen_margin * abs(best_screened) if relative else screen_margin


def verdict(screened: float | None, best_screened: float | None, screen_margin: float,
            relative: bool, direction: str, crash_reason: str | None = None) -> Decision | None:
    """The decision screening makes, or None when the candidate goes on to the full run."""
    if crash_reason or screened is None:
        return Decision("crash", f"screening: {crash_reason or 'no metric'}")
    if best_screened is None:
        return None
    gap = improvement(screened, best_screened, direction)
    if gap < -allowed(best_screened, screen_margin, relative):
        return Decision("discard", SCREENED_OUT)
    return None


@dataclass
class Savings:
    screen_s: float = 0.0  # time spent screening
    full_runs_s: list[float] = field(default_factory=list)  # each full run's duration
    spared: int = 0  # candidates screening ended: screened out, or crashed in screening

    def screened(self, seconds: float, full_run_follows: bool) -> None:
        self.screen_s += seconds
        self.spared += not full_run_follows

    def full_run(self, seconds: float) -> None:
        self.full_runs_s.append(seconds)

    @property
    def saved_s(self) -> float:
        """Full-run time not spent, net of the screens' own time."""
        if not self.full_runs_s:
            return -self.screen_s
        return self.spared * statistics.median(self.full_runs_s) - self.screen_s
