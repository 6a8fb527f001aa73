"""Signals that stop a command: SIGINT, SIGTERM and SIGHUP raise Interrupted (exit 128 + N).

While the loop cleans up after the first signal, :meth:`Signals.shielded` keeps a second
Ctrl-C from aborting the cleanup: it is noted, and the cleanup finishes.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

from autoresearch.errors import Interrupted

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Signals:
    def __enter__(self) -> "Signals":
        self._previous = {s: signal.getsignal(s) for s in STOPPING}
        for sig in STOPPING:
            signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise Interrupted(signum)

    @contextmanager
    def shielded(self):
        """Signals arriving inside are remembered, not raised."""
        late: list[int] = []
        for sig in STOPPING:
            signal.signal(sig, lambda signum, frame: late.append(signum))
        try:
            yield late
        finally:
            for sig in STOPPING:
                signal.signal(sig, self._raise)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
