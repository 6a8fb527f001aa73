"""The experiments of one tag, kept in memory and appended as the loop goes.

The JSONL log is the source of truth: each experiment is appended there first, then to
results.tsv. Loading repairs a results.tsv that missed rows after a hard kill, so every
finished experiment appears exactly once in both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoresearch import decide, faults, ledger
from autoresearch.config import Config
from autoresearch.engine import Measurement


@dataclass
class History:
    root: Path
    tag: str
    records: list[dict] = field(default_factory=list)
    noise_floor: float | None = None

    @classmethod
    def load(cls, root: Path, tag: str) -> "History":
        events, _skipped = ledger.read_events(root / ledger.EVENTS_FILE)
        history = cls(root, tag)
        for record in events:
            details = record["details"]
            if details.get("tag") != tag:
                continue
            if record.get("action") == "experiment_done":
                history.records.append(record)
            elif record.get("action") == "calibration" and details.get("noise_floor") is not None:
                history.noise_floor = details["noise_floor"]
        history._repair_results(ledger.experiments(events))
        return history

    def _repair_results(self, records: list[dict]) -> None:
        """Append the rows a hard kill kept out of results.tsv (of every tag).

        Rows pair with records by commit, counted: rejected candidates all share the
        commit 0000000, so a missing one is found only by counting.
        """
        path = self.root / ledger.RESULTS_FILE
        rows, _ = ledger.read_results(path)
        in_tsv = Counter(row.commit for row in rows)
        for record in records:
            d = record["details"]
            if not d.get("commit") or d.get("status") not in ledger.STATUSES:
                continue
            if in_tsv[d["commit"][:7]] > 0:
                in_tsv[d["commit"][:7]] -= 1
                continue
            ledger.append_result(path, commit=d["commit"], metric=d.get("metric", ""),
                                 value=d.get("value"), status=d["status"],
                                 description=d.get("description", ""))

    @property
    def next_number(self) -> int:
        return len(self.records) + 1

    def logged(self, commit: str) -> bool:
        return any(r["details"].get("full_commit") == commit for r in self.records)

    def best_record(self) -> dict | None:
        for record in reversed(self.records):
            if record["details"].get("status") == "keep":
                return record
        return None

    def best(self) -> tuple[decide.Best | None, str | None]:
        record = self.best_record()
        if record is None:
            return None, None
        d = record["details"]
        best = decide.Best(value=d["value"], samples=tuple(d.get("samples") or ()),
                           code_lines=d.get("lines"), noise_floor=self.noise_floor)
        return best, d.get("full_commit") or d.get("commit")

    def baseline_value(self) -> float | None:
        for record in self.records:
            if record["details"].get("status") == "keep":
                return record["details"].get("value")
        return None


def log_experiment(config: Config, root: Path, history: History, *, tag: str, commit: str | None,
                   description: str, measurement: Measurement | None, decision: decide.Decision,
                   extra: dict[str, Any] | None = None) -> dict:
    """Append one experiment to the JSONL log, then results.tsv; add it to ``history``."""
    best, _ = history.best()
    crashed = decision.status == "crash"
    value = measurement.value if measurement and not crashed else None
    prev = best.value if best else None
    delta = round(value - prev, 10) if value is not None and prev is not None else None
    details: dict[str, Any] = {
        "status": decision.status, "metric": config.metric_name,
        "value": 0 if value is None else value, "prev": prev, "delta": delta,
        "commit": (commit or "0000000")[:7], "description": description,
        "memory_gb": measurement.memory_gb if measurement else 0.0, "tag": tag,
        "number": history.next_number, "reason": decision.reason,
        "direction": config.metric_direction, "full_commit": commit,
    }
    if measurement:
        details.update({"duration_s": measurement.duration_s, "samples": list(measurement.samples),
                        "lines": measurement.code_lines, "cached": measurement.cached,
                        "reused_from": measurement.reused_from, "extra": measurement.extra})
    if crashed:
        details["error"] = (measurement.error if measurement and measurement.error
                            else decision.reason)
    if extra:
        details.update(extra)
    record = ledger.append_event(root / ledger.EVENTS_FILE, "experiment_done",
                                 "fail" if crashed else "success", details)
    faults.point("between_logs")
    ledger.append_result(root / ledger.RESULTS_FILE, commit=details["commit"],
                         metric=config.metric_name, value=value, status=decision.status,
                         description=description)
    history.records.append(record)
    return record
