"""What the dashboard shows: one project's experiments, read from its log, git and live.json.

Read-only: nothing here writes into the project or the state directory (no index cache,
no git command that writes). The log is the authoritative ledger when it exists, else the
JSONL mirror; it is followed incrementally, so a refresh costs a stat and the new bytes.

A *row* is one experiment as the page needs it, kept as compact JSON text so that sending
the rows appended since the client's last count costs a join.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from autoresearch.errors import ConfigError
from autoresearch.experiment import Experiment
from autoresearch.git import open_repo
from autoresearch.ledger import EventTail
from autoresearch.results import summary_of
from autoresearch.results_index import LogIndex, TagDigest
from autoresearch.runner import tail
from autoresearch.state import Layout, locate, read_json

LIVE_TAIL_BYTES = 4000  # of each worker's run log, in what is happening now
RUN_LOG_TAIL_BYTES = 8000  # of a finished experiment's run log, in its details
DIFF_MAX_CHARS = 100_000  # a longer patch is cut (git show has the rest)
RATE_MIN_S = 60  # experiments per hour needs at least this long between first and newest


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _text(value: Any) -> str:
    """Text for the page; bytes git or a log could not decode become U+FFFD."""
    text = "" if value is None else str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def row_of(record: dict, position: int) -> dict[str, Any]:
    """One experiment_done record as a table row (``position`` numbers an unnumbered one)."""
    e = Experiment.from_record(record)
    m = e.measurement
    return {
        "n": e.number or position + 1, "commit": e.short_commit, "sha": e.commit,
        "status": e.status, "value": _finite(e.value), "delta": _finite(e.delta),
        "reason": _text(e.reason), "description": _text(e.description),
        "error": _text(e.error) if e.crashed else None,
        "seconds": _finite(m.duration_s) if m else None,
        "cost": _finite(e.agent.cost_usd) if e.agent else None,
        "worker": e.worker if isinstance(e.worker, int) else None,
        "time": e.local_time or e.timestamp, "at": e.timestamp,
    }


def _hours_between(first: str | None, last: str | None) -> float | None:
    """Hours from one timestamp to the other; None under a minute (too short to tell a rate)."""
    try:
        seconds = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    except (TypeError, ValueError):
        return None
    return seconds / 3600 if seconds >= RATE_MIN_S else None


def summary_json(digest: TagDigest, first_at: str | None, newest_at: str | None) -> dict:
    """The headline numbers of one tag (``*_at``: its first and newest experiment's time)."""
    s = summary_of(digest)
    hours = _hours_between(first_at, newest_at)
    return {
        "tag": s.tag, "metric": s.metric, "direction": s.direction,
        "experiments": s.experiments, "kept": s.kept, "discarded": s.discarded,
        "crashed": s.crashed, "keep_rate": s.keep_rate, "baseline": _finite(s.baseline),
        "best": _finite(s.best), "change_pct": _finite(s.best_change_pct),
        "improved": s.improved, "best_commit": s.best_commit,
        "best_description": _text(s.best_description), "cost_usd": _finite(s.agent_cost_usd),
        "per_hour": (s.experiments - 1) / hours if hours else None,
    }


def _log_tail(path: Any, max_bytes: int) -> str:
    """The end of a log (live.json names it as a string); "" when there is none."""
    if isinstance(path, str) and path:
        path = Path(path)
    if not isinstance(path, Path):
        return ""
    try:
        return _text(tail(path, max_bytes))
    except OSError:  # a directory, no permission: nothing to show
        return ""


def _worker(entry: dict) -> dict[str, Any]:
    return {"worker": entry.get("worker"), "phase": _text(entry.get("phase")),
            "started": _finite(entry.get("started")), "limit_s": _finite(entry.get("limit_s")),
            "description": _text(entry.get("description")), "commit": _text(entry.get("commit")),
            "tail": _log_tail(entry.get("log"), LIVE_TAIL_BYTES)}


def live_status(layout: Layout) -> dict[str, Any] | None:
    """What the running loop says it is doing (live.json), with each worker's log tail;
    None when no loop wrote one. ``stale``: the process that wrote it is gone."""
    data = read_json(layout.live)
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    alive = isinstance(pid, int) and pid > 0 and psutil.pid_exists(pid)
    workers = [_worker(w) for w in data.get("workers") or () if isinstance(w, dict)]
    return {"pid": pid, "tag": _text(data.get("tag")), "updated": _text(data.get("updated")),
            "stale": not alive, "workers": workers}


def stamped(status: dict[str, Any] | None) -> dict[str, Any] | None:
    """The live status with the server's clock, from which the page ticks elapsed times."""
    return None if status is None else {**status, "now": time.time()}


class ProjectView:
    """The experiments of one project's log, every tag, brought up to date by refresh().

    Shared by the server's threads: every method takes the lock.
    """

    def __init__(self, layout: Layout):
        self.layout = layout
        self._lock = threading.Lock()
        self._repo = None
        self._reset(None)

    def _reset(self, source: Path | None) -> None:
        self._source = source
        self._follow = EventTail(source) if source else None
        self._seen_bytes = 0
        self._index = LogIndex()
        self._rows: dict[str, list[str]] = {}  # tag -> rows as JSON text, oldest first
        self._times: dict[str, tuple[str, str]] = {}  # tag -> (first, newest) timestamps
        self._shas: set[str] = set()  # the experiments' commits: only they have details

    @property
    def source(self) -> Path:
        """The log being read: the ledger when it exists, else the JSONL mirror."""
        return self.layout.ledger if self.layout.ledger.exists() else self.layout.events

    def refresh(self) -> None:
        """Read what was appended to the log since the last call."""
        with self._lock:
            source = self.source
            try:
                size = source.stat().st_size
            except OSError:
                size = 0
            if source != self._source or size < self._seen_bytes:  # a new or rewritten log
                self._reset(source)
            self._seen_bytes = size
            for record in self._follow.read_new():
                self._add(record)

    def _add(self, record: dict) -> None:
        self._index.add_record(record, 0)  # the rows keep the records: no location needed
        if record.get("action") != "experiment_done":
            return
        tag = record["details"].get("tag")
        key = tag if isinstance(tag, str) else ""
        rows = self._rows.setdefault(key, [])
        row = row_of(record, len(rows))
        rows.append(json.dumps(row, separators=(",", ":")))
        self._times[key] = (self._times.get(key, (row["at"],))[0], row["at"])
        if row["sha"]:
            self._shas.add(row["sha"])

    # -- queries ---------------------------------------------------------------------------
    def tags(self) -> list[str]:
        """The tags logged, in the order they first appear."""
        with self._lock:
            return [key for key in self._rows if key]

    def choose_tag(self, requested: str | None) -> str | None:
        """``requested`` when the log or the state knows it; else the tag most recently set
        up, else the newest logged one (None: a log without tags, or none yet)."""
        set_up = self._set_up_tag()
        tags = self.tags()
        if requested is None:
            with self._lock:
                return set_up or self._index.latest_tag
        if requested in tags or requested == set_up or not tags:
            return requested
        raise ConfigError(f"--tag {requested}: no experiments with this tag in "
                          f"{self.source}; logged tags: {', '.join(tags)}")

    def _set_up_tag(self) -> str | None:
        try:
            return self.layout.tag_file.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def count(self, tag: str | None) -> int:
        with self._lock:
            return len(self._rows.get(tag or "", ()))

    def rows_json(self, tag: str | None, start: int = 0) -> str:
        """The rows of ``tag`` from position ``start`` on, as a JSON array."""
        with self._lock:
            return "[" + ",".join(self._rows.get(tag or "", ())[start:]) + "]"

    def summary(self, tag: str | None) -> dict[str, Any]:
        with self._lock:
            return summary_json(self._index.tag(tag), *self._times.get(tag or "", (None, None)))

    def newest_shas(self, tag: str | None, limit: int) -> list[str]:
        with self._lock:
            rows = [json.loads(text) for text in self._rows.get(tag or "", ())[-limit:]]
        return [row["sha"] for row in rows if row["sha"]]

    # -- an experiment's details -------------------------------------------------------------
    def details(self, shas: list[str]) -> dict[str, dict[str, str]]:
        """Diff (against its parent) and run-log tail of each known experiment commit."""
        with self._lock:
            known = [sha for sha in shas if sha in self._shas]
            if known and self._repo is None:
                self._repo = open_repo(self.layout.repo_root)
            patches = self._repo.patches(known) if known else {}
        return {sha: {"diff": _cut(_text(patches.get(sha)), sha) if sha in patches
                      else f"commit {sha[:7]} is no longer in the repository",
                      "log": _log_tail(self.layout.run_dir(sha) / "1" / "run.log",
                                       RUN_LOG_TAIL_BYTES)}
                for sha in known}

    def close(self) -> None:
        with self._lock:
            if self._repo is not None:
                self._repo.close()
                self._repo = None


def _cut(patch: str, sha: str) -> str:
    if len(patch) <= DIFF_MAX_CHARS:
        return patch
    return (patch[:DIFF_MAX_CHARS]
            + f"\n… cut after {DIFF_MAX_CHARS} characters: git show {sha} has the rest\n")


def open_view(project: Path) -> ProjectView:
    """The view of the project at ``project``, read up to now."""
    if not project.is_dir():
        raise ConfigError(f"{project}: no such project directory")
    view = ProjectView(locate(project))
    view.refresh()
    return view
