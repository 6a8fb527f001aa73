"""How long ``autoresearch results`` (summary + the last 20 rows) takes on big logs.

Writes logs of 1,000 / 10,000 / 100,000 experiments into a temporary directory, in the
shape ``ledger.append_event`` writes (directly, for speed), and times ``report`` on each:

- cold: the first call, which parses every line and writes the digest cache;
- warm: the cache covers the whole log;
- +1 night: 100 experiments were appended since the cache was written.

The target: under one second for 100,000 experiments.

    .venv/bin/python bench/bench_results.py
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoresearch.ledger import EVENTS_FILE  # noqa: E402
from autoresearch.results import report  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
TARGET_S = 1.0
TAG = "bench"
START = datetime(2025, 11, 25, 22, 0, tzinfo=timezone.utc)


def _record(action: str, status: str, details: dict, moment: datetime) -> str:
    """One JSONL line as append_event writes it (same keys, same order)."""
    details.setdefault("timestamp", moment.isoformat(timespec="seconds"))
    record = {"tool": "autoresearch", "action": action, "status": status, "details": details,
              "local_time": moment.strftime("%Y-%m-%dT%H:%M:%S")}
    return json.dumps(record, ensure_ascii=False)


def _experiment(number: int, value: float, best: float | None, rng: random.Random) -> dict:
    """The details of one experiment_done record; the verdict follows the value."""
    crashed = number > 0 and rng.random() < 0.1
    status = "crash" if crashed else ("keep" if best is None or value < best else "discard")
    reason = {"crash": "timeout", "keep": "improved" if best is not None else "baseline",
              "discard": "not improved"}[status]
    return {
        "status": status, "metric": "val_bpb", "value": 0 if crashed else value,
        "prev": best, "delta": None if best is None or crashed else value - best,
        "commit": f"{rng.getrandbits(28):07x}", "description": f"idea number {number}",
        "memory_gb": 12.5, "tag": TAG, "number": number, "reason": reason,
        "duration_s": 300.0, "agent_cost_usd": 0.05, "agent_s": 30.0, "samples": [value],
        "noise_floor": 0.0005, "direction": "lower_is_better", "cached": False,
    }


def write_log(path: Path, count: int) -> None:
    """A log of ``count`` experiments of one session, with its start and end records."""
    rng = random.Random(count)
    lines = [_record("session_start", "in_progress", {"tag": TAG, "trigger": "bench"}, START)]
    best = None
    for number in range(count):
        moment = START + timedelta(seconds=330 * number)
        details = _experiment(number, 1.0 - number * 1e-6 + rng.gauss(0, 0.002), best, rng)
        lines.append(_record("experiment_start", "in_progress",
                             {"idea": details["description"], "commit": details["commit"]},
                             moment))
        ok = details["status"] != "crash"
        lines.append(_record("experiment_done", "success" if ok else "fail", details, moment))
        if details["status"] == "keep":
            best = details["value"]
    lines.append(_record("session_end", "success", {"tag": TAG}, START))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def time_report(project: Path) -> float:
    """Seconds for one ``report``: the summary and the last 20 rows."""
    began = time.perf_counter()
    report(project, tag=TAG, fmt="table", last=20, status=None, query_expr=None,
           plot_path=None, colour=False)
    return time.perf_counter() - began


def append_night(path: Path, count: int, nights: int) -> None:
    """Append ``nights`` x 100 experiments, as a loop does overnight."""
    rng = random.Random(-count - nights)
    lines = [_record("experiment_done", "success",
                     _experiment(count + i, 1.5, 1.0, rng), START) for i in range(100)]
    with path.open("a", encoding="utf-8") as log:
        log.write("\n".join(lines) + "\n")


def measure(project: Path, count: int) -> tuple[float, float, float]:
    """Cold (no cache), warm (cache up to date) and after a night (100 new experiments)."""
    log = project / EVENTS_FILE
    write_log(log, count)
    (project / ".autoresearch").mkdir()
    cold = time_report(project)
    warm = min(time_report(project) for _ in range(3))
    night = []
    for nights in range(3):
        append_night(log, count, nights)
        night.append(time_report(project))
    return cold, warm, min(night)


def main() -> None:
    print(f"{'experiments':>11}  {'log MB':>6}  {'cold s':>7}  {'warm s':>7}  "
          f"{'+1 night s':>10}  {'warm/target':>11}")
    with tempfile.TemporaryDirectory() as scratch:
        for count in SIZES:
            project = Path(scratch) / str(count)
            cold, warm, night = measure(project, count)
            megabytes = (project / EVENTS_FILE).stat().st_size / 1e6
            print(f"{count:>11,}  {megabytes:>6.1f}  {cold:>7.3f}  {warm:>7.3f}  "
                  f"{night:>10.3f}  {max(warm, night) / TARGET_S:>11.0%}")


if __name__ == "__main__":
    main()
