"""The two append-only logs: ``results.tsv`` (for people) and the JSONL event log (for jq).

Both formats are a compatibility contract with the original /autoresearch skill.

``results.tsv`` — a header, then one row per experiment::

    commit  metric  value     status   description
    a1b2c3d val_bpb 0.997900  keep     baseline

The commit is cut to 7 characters, the value printed ``%.6f`` (``0.000000`` for a
crash), the status is keep, discard or crash, and tabs, newlines and carriage returns in
the metric name and description become spaces so that a row stays one row.

``.claude/logs/autoresearch.jsonl`` — one compact JSON object per line, keys in this order::

    {"tool":"autoresearch","action":...,"status":...,"details":{...},"local_time":"YYYY-MM-DDTHH:MM:SS"}

``details.timestamp`` (ISO 8601 UTC with offset) is added when absent; NaN and ±inf
become null. The actions the loop writes:

- ``session_start`` — status "in_progress"; details: tag, trigger.
- ``experiment_start`` — status "in_progress"; details: idea, commit.
- ``experiment_done`` — status "success" for a keep or discard, with details: status
  (keep/discard), metric, value, prev, delta, commit, description, memory_gb, tag and
  any extras; prev and delta are null for the baseline. Status "fail" for a crash, with
  details.status "crash", value 0 and error.
- ``interrupted`` — the loop was stopped by a signal.
- ``session_end`` — the loop finished.

Writing: each record is one complete line, written with one ``os.write`` to a file opened
with O_APPEND, then fsync'ed. If a killed writer left a torn last line (no final
newline), the new record starts with a newline so the fragment stays alone on its line,
where readers skip it. Logs are never rewritten or truncated; a failed write raises
``LogWriteError``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoresearch.errors import LogWriteError

RESULTS_FILE = "results.tsv"
EVENTS_FILE = ".claude/logs/autoresearch.jsonl"
RESULTS_HEADER = "commit\tmetric\tvalue\tstatus\tdescription"
STATUSES = ("keep", "discard", "crash")
TOOL = "autoresearch"


@dataclass(frozen=True)
class ResultRow:
    commit: str
    metric: str
    value: float
    status: str
    description: str


def _write_error(path: Path, exc: OSError) -> LogWriteError:
    """The one-line error for a log that could not be written."""
    return LogWriteError(f"cannot write {path}: {exc.strerror or exc}")


def _ends_torn(fd: int) -> bool:
    """True when the file is non-empty and its last byte is not a newline."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def append_lines(path: Path, lines: str) -> None:
    """Append complete lines (after ending a torn last line), then fsync.

    With ``lines`` empty this only ends a torn last line, if there is one.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = (("\n" if _ends_torn(fd) else "") + lines).encode("utf-8")
            if not data:  # nothing to end or append (ensure_results_file): no fsync either
                return
            while data:  # one write; the loop only finishes a short write
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from exc


_CELL_BREAKERS = re.compile(r"[\t\r\n]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _one_line(text: str) -> str:
    """Tabs, newlines and carriage returns become spaces so a TSV field stays in its cell;
    other control characters (terminal escapes) become ``?``."""
    return _CONTROL.sub("?", _CELL_BREAKERS.sub(" ", text))


def ensure_results_file(path: Path) -> bool:
    """Write the header to an absent or empty file (True if written); end a torn last line."""
    try:
        empty = path.stat().st_size == 0
    except FileNotFoundError:
        empty = True
    except OSError as exc:
        raise _write_error(path, exc) from exc
    append_lines(path, RESULTS_HEADER + "\n" if empty else "")
    return empty


def result_row(*, commit: str, metric: str, value: float | None, status: str,
               description: str, memory_gb: float = 0.0, columns: str = "seed") -> str:
    """One results.tsv row (with its newline): the seed's columns, or karpathy's
    (``commit <metric> memory_gb status description``, memory with one decimal)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    usable = status != "crash" and value is not None and math.isfinite(value)
    shown = "%.6f" % (value if usable else 0.0)
    if columns == "karpathy":
        memory = memory_gb if isinstance(memory_gb, (int, float)) and math.isfinite(memory_gb) \
            else 0.0
        cells = [commit[:7], shown, "%.1f" % memory, status, _one_line(description)]
    else:
        cells = [commit[:7], _one_line(metric), shown, status, _one_line(description)]
    return "\t".join(cells) + "\n"


def results_header(columns: str = "seed", metric: str = "") -> str:
    if columns == "karpathy":
        return f"commit\t{_one_line(metric) or 'value'}\tmemory_gb\tstatus\tdescription"
    return RESULTS_HEADER


def append_result(
    path: Path, *, commit: str, metric: str, value: float | None, status: str, description: str
) -> None:
    """Append one row to results.tsv (creating it with its header when needed)."""
    row = result_row(commit=commit, metric=metric, value=value, status=status,
                     description=description)
    ensure_results_file(path)
    append_lines(path, row)


def _json_safe(value: Any) -> Any:
    """Copy dicts and lists, turning NaN and ±inf into None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def format_record(action: str, status: str, details: dict, *, now: datetime | None = None,
                  local_time: str | None = None) -> str:
    """One record as its JSONL line (without the newline).

    ``now`` (default: the current time; a naive value is taken as local time) sets
    ``local_time`` (unless given) and the default ``details.timestamp``. Values JSON cannot
    hold (paths, dates) are written as strings; NaN and ±inf become null.
    """
    moment = (now or datetime.now()).astimezone()
    safe = _json_safe(details)
    safe.setdefault("timestamp", moment.astimezone(UTC).isoformat(timespec="seconds"))
    record = {
        "tool": TOOL,
        "action": action,
        "status": status,
        "details": safe,
        "local_time": local_time or moment.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return json.dumps(
        record, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    )


def append_event(
    path: Path, action: str, status: str, details: dict, *, now: datetime | None = None
) -> dict:
    """Append one record (:func:`format_record`) to the JSONL log; return it as written."""
    line = format_record(action, status, details, now=now)
    append_lines(path, line + "\n")
    return json.loads(line)


def _parse_row(line: str) -> ResultRow | None:
    """A results.tsv row, or None when the line is malformed."""
    cells = line.split("\t", 4)
    if len(cells) != 5 or cells[3] not in STATUSES:
        return None
    try:
        value = float(cells[2])
    except ValueError:
        return None
    return ResultRow(cells[0], cells[1], value, cells[3], cells[4])


def read_results(path: Path) -> tuple[list[ResultRow], int]:
    """All rows of results.tsv and how many malformed or torn lines were skipped."""
    if not path.exists():
        return [], 0
    rows: list[ResultRow] = []
    skipped = 0
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        line = line.rstrip("\r")
        if not line.strip() or line == RESULTS_HEADER:
            continue
        row = _parse_row(line)
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    return rows, skipped


def parse_lines(lines: Iterable[bytes]) -> tuple[list[dict], int]:
    """Parse complete lines into records, counting the skipped non-blank ones.

    A record is a JSON object with tool "autoresearch" and an object as details. This
    loop is the hot path of every reader, hence plain ``json.loads`` and ``type`` checks.
    """
    records: list[dict] = []
    skipped = 0
    for line in lines:
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:  # also UnicodeDecodeError
            skipped += not line.isspace()
            continue
        if (
            type(record) is dict
            and record.get("tool") == TOOL
            and type(record.get("details")) is dict
        ):
            records.append(record)
        else:
            skipped += 1
    return records, skipped


def read_events(path: Path) -> tuple[list[dict], int]:
    """All autoresearch records of the JSONL log and how many lines were skipped.

    Skipped: torn lines, non-JSON, and JSON that is not an autoresearch record (other
    tools may share the log). Lines are split on b"\\n" only, so U+2028 inside a string
    never splits a record.
    """
    if not path.exists():
        return [], 0
    return parse_lines(path.read_bytes().split(b"\n"))


def experiments(records: Iterable[dict], tag: str | None = None) -> list[dict]:
    """The experiment_done records, optionally only those whose details.tag is ``tag``."""
    return [
        record
        for record in records
        if record.get("action") == "experiment_done"
        and (tag is None or record["details"].get("tag") == tag)
    ]


class EventTail:
    """Reads the records appended to a growing JSONL log since the previous call.

    A last line without its newline may still be being written: it is kept back until
    its newline arrives, and only then parsed (or counted in ``skipped``). If the file
    shrinks (deleted and recreated), reading starts again from its beginning.
    """

    def __init__(self, path: Path):
        self.path = path
        self.skipped = 0  # lines skipped so far, as read_events counts them
        self._offset = 0
        self._pending = b""

    def read_new(self) -> list[dict]:
        """Records appended since the last call (all of them on the first call)."""
        try:
            with self.path.open("rb") as file:
                if os.fstat(file.fileno()).st_size < self._offset:
                    self._offset, self._pending = 0, b""
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        records, skipped = parse_lines(lines)
        self.skipped += skipped
        return records
