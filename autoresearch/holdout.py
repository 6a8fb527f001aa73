"""The sealed holdout's verdict on a candidate the main metric would keep (issue 15, item 1).

A keep needs the candidate's holdout value not to be worse than the best's by more than
``tolerance``. The reason is what the agent is told, so it never carries a number: the agent
must learn nothing about the holdout but pass or fail.
"""

from __future__ import annotations

import math

from autoresearch.decide import improvement

PASSED = "holdout passed"
FIRST = "holdout recorded"  # the best has no holdout value yet: this one becomes the reference
REGRESSED = "holdout regressed"
FAILED = "holdout failed"  # the holdout run crashed or printed no number


def holdout_ok(candidate: float | None, best: float | None, *, direction: str,
               tolerance: float) -> tuple[bool, str]:
    """(passes, reason): fails when the candidate's holdout is missing or worse than the
    best's by more than ``tolerance`` (>= 0: the calibrated noise floor, else 0)."""
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"holdout tolerance must be a finite number >= 0, not {tolerance!r}")
    if candidate is None or not math.isfinite(candidate):
        return False, FAILED
    if best is None:
        return True, FIRST
    if improvement(candidate, best, direction) < -tolerance:
        return False, REGRESSED
    return True, PASSED
