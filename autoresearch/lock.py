"""One loop per repository and project: an OS lock held for the life of the loop.

The lock is ``flock`` on the project's state directory itself (not on a file in it, which
someone could delete to let a second loop in); ``loop.lock`` beside it only says which pid
holds it, for the error message. ``setup`` and ``measure`` of a running loop's project check
the lock without taking it.
"""

from __future__ import annotations

import fcntl
import os

from autoresearch.errors import LockedError
from autoresearch.state import Layout


class ProjectLock:
    def __init__(self, layout: Layout):
        self.layout = layout
        self._fd: int | None = None

    def __enter__(self) -> "ProjectLock":
        self.layout.state.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.layout.state, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(f"another autoresearch loop (pid {holder(self.layout)}) is running "
                              f"in {self.layout.project}; stop it first or wait for it to "
                              "finish") from None
        self._fd = fd
        try:
            self.layout.lock.write_text(str(os.getpid()))
        except OSError:
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def holder(layout: Layout) -> str:
    try:
        return layout.lock.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def running(layout: Layout) -> str | None:
    """The pid of the loop running in this project, or None (takes nothing)."""
    if not layout.state.is_dir():
        return None
    fd = os.open(layout.state, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder(layout)
    finally:
        os.close(fd)
    return None
