"""What the running loop is doing now, in ``live.json`` (for dashboards and ``results``).

Thread-safe: workers report their phase as they go; the file is rewritten atomically at most
once a second (and at every phase change) and removed when the loop ends. Its format is in
docs/architecture.md ("Live status").
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoresearch.state import write_json

WRITE_EVERY_S = 1.0


class Live:
    def __init__(self, path: Path, tag: str, jobs: int):
        self.path = path
        self.tag = tag
        self.jobs = jobs
        self._workers: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._written = 0.0

    def phase(self, worker: int, phase: str, *, limit_s: float | None = None,
              description: str | None = None, commit: str | None = None,
              log: Path | None = None) -> None:
        """Worker ``worker`` starts ``phase`` (agent, run, measure, idle)."""
        with self._lock:
            entry = self._workers.setdefault(worker, {"worker": worker})
            entry.update({"phase": phase, "started": time.time(), "limit_s": limit_s})
            if description is not None:
                entry["description"] = description
            if commit is not None:
                entry["commit"] = commit[:7]
            entry["log"] = str(log) if log is not None else None
            self._write(force=True)

    def tick(self, worker: int, phase: str, elapsed: float, limit: float) -> None:
        with self._lock:
            entry = self._workers.setdefault(worker, {"worker": worker})
            if entry.get("phase") != phase:
                entry.update({"phase": phase, "started": time.time() - elapsed,
                              "limit_s": limit})
                self._write(force=True)
            else:
                self._write(force=False)

    def _write(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._written < WRITE_EVERY_S:
            return
        self._written = now
        try:
            write_json(self.path, {
                "pid": os.getpid(), "tag": self.tag, "jobs": self.jobs,
                "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                "workers": [self._workers[n] for n in sorted(self._workers)]})
        except OSError:
            pass  # a status for onlookers is never worth stopping the loop

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
