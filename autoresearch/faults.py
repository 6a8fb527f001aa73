"""Test-only fault injection: kill this process with SIGKILL at a named point of the cycle.

Off unless ``AUTORESEARCH_KILL_AT`` names one or more points (comma-separated), e.g.
``AUTORESEARCH_KILL_AT=between_logs``. ``AUTORESEARCH_KILL_AFTER=N`` lets the point pass
N times before killing. The reliability tests use it to prove that a hard kill at any
moment loses nothing. Points: after_agent, before_commit, run_start, before_decide,
before_log, between_logs.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_agent", "before_commit", "run_start", "before_decide", "before_log",
          "between_logs")
_armed = {p.strip() for p in os.environ.get("AUTORESEARCH_KILL_AT", "").split(",") if p.strip()}
_passes_left = int(os.environ.get("AUTORESEARCH_KILL_AFTER", "0") or 0)


def point(name: str) -> None:
    """Die here, without any cleanup, when the tests armed this point."""
    global _passes_left
    if name not in _armed:
        return
    if _passes_left > 0:
        _passes_left -= 1
        return
    os.kill(os.getpid(), signal.SIGKILL)
