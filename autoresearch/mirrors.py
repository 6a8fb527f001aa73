"""The authoritative ledger and its two mirrors, results.tsv and the JSONL log.

The ledger (``Layout.ledger``, in the state directory, out of the agent's and the run's
reach) is the record of what the tool measured and decided: append-only, one JSONL record
per line, fsync'ed. Every record is appended to it first, then to the project's JSONL log
(the same line), and an experiment's row to results.tsv. Nothing the tool decides is ever
read back from a mirror.

At each start the mirrors are checked against the ledger. A mirror that is a prefix of what
the ledger says (a kill between the two writes) is completed silently; one that differs in
any other way (edited, truncated, a forged record appended) is rewritten atomically from the
ledger, the old file kept beside it as ``<name>.<time>.bak``, with a one-line warning.

A project from before the ledger existed has only the JSONL log: the first start adopts it
as the ledger.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from autoresearch import faults, ledger
from autoresearch.experiment import Experiment
from autoresearch.state import Layout, write_text_atomic

READ_CHUNK = 1024 * 1024


class Ledger:
    """Appends records to the ledger and its mirrors; reads the ledger back."""

    def __init__(self, layout: Layout, *, metric: str = "", columns: str = "seed"):
        self.layout = layout
        self.metric = metric
        self.columns = columns
        # The loop logs from its main thread; hooks report failures from theirs. One writer
        # at a time keeps the ledger and its mirrors in the same order.
        self._writing = threading.Lock()

    # -- writing --------------------------------------------------------------------------
    def append(self, action: str, status: str, details: dict[str, Any]) -> dict:
        """Append one record (ledger first, then the JSONL mirror); return it as written."""
        line = ledger.format_record(action, status, details) + "\n"
        with self._writing:
            ledger.append_lines(self.layout.ledger, line)
            ledger.append_lines(self.layout.events, line)
        return json.loads(line)

    def append_experiment(self, experiment: Experiment) -> Experiment:
        """Log an experiment (ledger, JSONL, then its results.tsv row); return it as logged."""
        line = ledger.format_record(*experiment.to_record()) + "\n"
        record = json.loads(line)
        with self._writing:
            ledger.append_lines(self.layout.ledger, line)
            faults.point("between_logs")
            ledger.append_lines(self.layout.events, line)
            self._ensure_tsv_header()
            ledger.append_lines(self.layout.results_tsv, self._row(record["details"]))
        return Experiment.from_record(record)

    def _row(self, d: dict) -> str:
        return ledger.result_row(
            commit=str(d.get("commit") or ""), metric=str(d.get("metric") or ""),
            value=d.get("value") if isinstance(d.get("value"), (int, float)) else None,
            status=d.get("status") if d.get("status") in ledger.STATUSES else "crash",
            description=str(d.get("description") or ""), memory_gb=d.get("memory_gb") or 0.0,
            columns=self.columns)

    def _header(self) -> str:
        return ledger.results_header(self.columns, self.metric) + "\n"

    def _ensure_tsv_header(self) -> None:
        path = self.layout.results_tsv
        if not path.exists() or path.stat().st_size == 0:
            ledger.append_lines(path, self._header())

    # -- reading --------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.layout.ledger.exists()

    def records(self) -> Iterator[dict]:
        """Every record of the ledger, streamed (torn and foreign lines skipped)."""
        yield from iter_records(self.layout.ledger)

    # -- the mirrors ------------------------------------------------------------------------
    def adopt_old_log(self) -> bool:
        """A project logged before the ledger existed: its JSONL log becomes the ledger."""
        if self.layout.ledger.exists() or not self.layout.events.is_file():
            return False
        self.layout.ledger.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.layout.events, self.layout.ledger)
        return True

    def sync_mirrors(self, warn: Callable[[str], None]) -> list[str]:
        """Make both mirrors say what the ledger says; return the ones that were rewritten."""
        rewritten = []
        events = self.layout.ledger.read_bytes() if self.layout.ledger.exists() else b""
        if _sync(self.layout.events, events):
            rewritten.append(str(self.layout.events))
        rows = [self._header()] + [self._row(r["details"]) for r in _parse(events)
                                   if r.get("action") == "experiment_done"]
        if _sync(self.layout.results_tsv, "".join(rows).encode()):
            rewritten.append(str(self.layout.results_tsv))
        for path in rewritten:
            warn(f"{path} did not match the ledger (edited or truncated by someone else); "
                 f"rewrote it from the ledger, the old file is kept beside it as a .bak")
        return rewritten


def _sync(mirror: Path, expected: bytes) -> bool:
    """Bring ``mirror`` to ``expected``; True when it had to be rewritten (not just completed).

    Only a mirror missing the one line a kill can cut off (between the ledger's write and
    the mirror's) is completed; anything more missing is a truncation, and is rewritten.
    """
    current = mirror.read_bytes() if mirror.exists() else b""
    if current == expected:
        return False
    missing = expected[len(current):]
    if expected.startswith(current) and (not current or current.endswith(b"\n")) \
            and (not current or missing.count(b"\n") <= 1):
        ledger.append_lines(mirror, missing.decode("utf-8", errors="replace"))
        return False
    if mirror.exists():
        shutil.copyfile(mirror, mirror.with_name(f"{mirror.name}.{time.strftime('%Y%m%dT%H%M%S')}.bak"))
    write_text_atomic(mirror, expected.decode("utf-8", errors="replace"), durable=True)
    return True


def _parse(data: bytes) -> list[dict]:
    records, _ = ledger.parse_lines(data.split(b"\n"))
    return records


def iter_records(path: Path) -> Iterator[dict]:
    """The records of a JSONL log, read a chunk at a time (memory stays flat)."""
    if not path.exists():
        return
    pending = b""
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            yield from ledger.parse_lines(lines)[0]
    if pending:
        yield from ledger.parse_lines([pending])[0]
