"""Tests for autoresearch.ledger: results.tsv rows, the JSONL log, torn lines, jq queries."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoresearch.errors import LogWriteError
from autoresearch.ledger import (
    EVENTS_FILE,
    RESULTS_HEADER,
    EventTail,
    ResultRow,
    append_event,
    append_result,
    ensure_results_file,
    experiments,
    read_events,
    read_results,
)

NOW = datetime(2025, 3, 14, 15, 9, 26, 535897)  # naive: local time


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "results.tsv"


@pytest.fixture
def events(tmp_path: Path) -> Path:
    return tmp_path / EVENTS_FILE


# --- results.tsv ----------------------------------------------------------------------


def test_results_rows_are_exact_bytes(results: Path) -> None:
    append_result(
        results,
        commit="a1b2c3d4e5f6",
        metric="val_bpb",
        value=0.9979,
        status="keep",
        description="baseline",
    )
    append_result(
        results,
        commit="b2c3d4e5",
        metric="val_bpb",
        value=0.9932,
        status="keep",
        description="increase LR\tto 0.04\nand\r\nwarmup",
    )
    append_result(
        results,
        commit="c3d4e5f",
        metric="val_bpb",
        value=1.005,
        status="discard",
        description="switch to GeLU activation",
    )
    append_result(
        results,
        commit="d4e5f6g",
        metric="val_bpb",
        value=None,
        status="crash",
        description="double model width (OOM)",
    )
    append_result(
        results, commit="e5f6a7b", metric="val\tbpb", value=0.5, status="crash", description=""
    )
    assert results.read_bytes() == (
        b"commit\tmetric\tvalue\tstatus\tdescription\n"
        b"a1b2c3d\tval_bpb\t0.997900\tkeep\tbaseline\n"
        b"b2c3d4e\tval_bpb\t0.993200\tkeep\tincrease LR to 0.04 and  warmup\n"
        b"c3d4e5f\tval_bpb\t1.005000\tdiscard\tswitch to GeLU activation\n"
        b"d4e5f6g\tval_bpb\t0.000000\tcrash\tdouble model width (OOM)\n"
        b"e5f6a7b\tval bpb\t0.000000\tcrash\t\n"
    )


def test_results_read_back(results: Path) -> None:
    append_result(
        results,
        commit="a1b2c3d",
        metric="val_bpb",
        value=0.9979,
        status="keep",
        description="baseline",
    )
    append_result(
        results, commit="d4e5f6g", metric="val_bpb", value=None, status="crash", description="OOM"
    )
    rows, skipped = read_results(results)
    assert rows == [
        ResultRow("a1b2c3d", "val_bpb", 0.9979, "keep", "baseline"),
        ResultRow("d4e5f6g", "val_bpb", 0.0, "crash", "OOM"),
    ]
    assert skipped == 0


def test_results_rejects_unknown_status(results: Path) -> None:
    with pytest.raises(ValueError, match="unknown status 'kept'"):
        append_result(results, commit="a", metric="m", value=1.0, status="kept", description="")
    assert not results.exists()


def test_ensure_results_file(results: Path) -> None:
    assert ensure_results_file(results) is True
    assert results.read_text() == RESULTS_HEADER + "\n"
    assert ensure_results_file(results) is False
    assert results.read_text() == RESULTS_HEADER + "\n"


def test_ensure_results_file_ends_a_torn_row(results: Path) -> None:
    results.write_text(RESULTS_HEADER + "\na1b2c3d\tval_bpb\t0.99")
    assert ensure_results_file(results) is False
    assert results.read_text() == RESULTS_HEADER + "\na1b2c3d\tval_bpb\t0.99\n"


def test_results_torn_and_malformed_rows_are_skipped(results: Path) -> None:
    results.write_text(
        RESULTS_HEADER + "\nbad line\na1b2c3d\tval_bpb\tnot-a-number\tkeep\tx\n"
        "a1b2c3d\tval_bpb\t0.5\tmaybe\tx\nb2c3d4e\tval_bpb\t0.9"
    )
    append_result(
        results,
        commit="c3d4e5f",
        metric="val_bpb",
        value=0.8,
        status="keep",
        description="after the torn row",
    )
    rows, skipped = read_results(results)
    assert rows == [ResultRow("c3d4e5f", "val_bpb", 0.8, "keep", "after the torn row")]
    assert skipped == 4
    assert results.read_text().startswith(RESULTS_HEADER + "\nbad line\n")  # never rewritten


def test_read_results_of_a_missing_file(results: Path) -> None:
    assert read_results(results) == ([], 0)


# --- the JSONL log ------------------------------------------------------------------


def test_event_line_shape(events: Path) -> None:
    record = append_event(
        events,
        "experiment_done",
        "success",
        {"status": "keep", "value": 0.9932, "note": "café ✓"},
        now=NOW,
    )
    line = events.read_text(encoding="utf-8")
    utc = NOW.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert line == (
        '{"tool":"autoresearch","action":"experiment_done","status":"success",'
        '"details":{"status":"keep","value":0.9932,"note":"café ✓",'
        f'"timestamp":"{utc}"}},"local_time":"2025-03-14T15:09:26"}}\n'
    )
    assert list(record) == ["tool", "action", "status", "details", "local_time"]
    assert record == json.loads(line)


def test_event_local_time_format_and_given_timestamp_kept(events: Path) -> None:
    record = append_event(
        events, "session_start", "in_progress", {"tag": "mar14", "timestamp": "given"}
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["local_time"])
    assert record["details"]["timestamp"] == "given"


def test_event_default_timestamp_is_utc_iso(events: Path) -> None:
    aware = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
    record = append_event(events, "session_end", "success", {}, now=aware)
    assert record["details"]["timestamp"] == "2025-03-14T12:00:00+00:00"
    assert datetime.fromisoformat(record["local_time"]) == aware.astimezone().replace(tzinfo=None)


def test_nan_and_inf_become_null(events: Path) -> None:
    details = {
        "value": math.nan,
        "nested": {"list": [1.0, math.inf, -math.inf]},
        "pair": (1, 2),
        "path": Path("/x"),
    }
    append_event(events, "experiment_done", "fail", details, now=NOW)
    (record,), skipped = read_events(events)
    assert skipped == 0
    assert record["details"]["value"] is None
    assert record["details"]["nested"] == {"list": [1.0, None, None]}
    assert record["details"]["pair"] == [1, 2]
    assert record["details"]["path"] == "/x"
    assert math.isnan(details["value"])  # the caller's dict is left alone
    assert "timestamp" not in details


def test_torn_last_line_is_isolated_and_skipped(events: Path) -> None:
    append_event(events, "session_start", "in_progress", {"tag": "t"}, now=NOW)
    with events.open("a") as log:
        log.write('{"tool":"autoresearch","action":"experi')  # a killed writer
    append_event(events, "experiment_done", "success", {"status": "keep", "value": 1.5}, now=NOW)
    lines = events.read_text().split("\n")
    assert lines[1] == '{"tool":"autoresearch","action":"experi'
    records, skipped = read_events(events)
    assert skipped == 1
    assert [r["action"] for r in records] == ["session_start", "experiment_done"]
    assert records[1]["details"]["value"] == 1.5


def test_foreign_lines_are_skipped(events: Path) -> None:
    events.parent.mkdir(parents=True)
    events.write_text(
        '{"tool": "other", "action": "x", "details": {}}\n'
        "not json\n"
        "[1, 2]\n"
        '"a string"\n'
        '{"tool": "autoresearch", "details": "not an object"}\n'
        "\n"
        '{"tool": "autoresearch", "action": "ok", "status": "success", "details": {}}\n'
        "\xff\n",
        encoding="latin-1",
    )
    records, skipped = read_events(events)
    assert [r["action"] for r in records] == ["ok"]
    assert skipped == 6


def test_line_separator_in_a_string_does_not_split_a_record(events: Path) -> None:
    append_event(events, "experiment_start", "in_progress", {"idea": "a\u2028b\u0085c"})
    (record,), skipped = read_events(events)
    assert record["details"]["idea"] == "a\u2028b\u0085c"
    assert skipped == 0


def test_appending_never_rewrites_earlier_bytes(events: Path) -> None:
    append_event(events, "session_start", "in_progress", {"tag": "t"}, now=NOW)
    before = events.read_bytes()
    append_event(events, "session_end", "success", {}, now=NOW)
    after = events.read_bytes()
    assert after.startswith(before)
    assert after.count(b"\n") == 2


def test_experiments_filters_by_action_and_tag(events: Path) -> None:
    append_event(events, "session_start", "in_progress", {"tag": "a"})
    append_event(events, "experiment_done", "success", {"status": "keep", "tag": "a"})
    append_event(events, "experiment_done", "success", {"status": "discard", "tag": "b"})
    records, _ = read_events(events)
    assert [r["details"]["status"] for r in experiments(records)] == ["keep", "discard"]
    assert [r["details"]["status"] for r in experiments(records, tag="b")] == ["discard"]


def test_read_events_of_a_missing_file(events: Path) -> None:
    assert read_events(events) == ([], 0)


# --- write failures -----------------------------------------------------------------


@pytest.fixture
def read_only_file(tmp_path: Path):
    """A file that really cannot be written: chmod 0444, plus chattr +i when root."""
    path = tmp_path / "locked.jsonl"
    path.write_text("")
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable:
        done = (
            shutil.which("chattr")
            and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        )
        if not done:
            pytest.skip("running as root without a working chattr +i")
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_file_raises_log_write_error(read_only_file: Path) -> None:
    reason = r"(Operation not permitted|Permission denied)"
    with pytest.raises(LogWriteError, match=rf"^cannot write {read_only_file}: {reason}$"):
        append_event(read_only_file, "session_start", "in_progress", {})
    assert read_only_file.read_bytes() == b""


def test_path_that_is_a_directory_raises_log_write_error(tmp_path: Path) -> None:
    target = tmp_path / "results.tsv"
    target.mkdir()
    with pytest.raises(LogWriteError, match=r"^cannot write .*results\.tsv: Is a directory$"):
        append_result(target, commit="a", metric="m", value=1.0, status="keep", description="")
    with pytest.raises(LogWriteError, match="Is a directory"):
        append_event(target, "session_start", "in_progress", {})


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_raises_log_write_error() -> None:
    with pytest.raises(LogWriteError, match=r"^cannot write /dev/full: No space left on device$"):
        append_event(Path("/dev/full"), "session_start", "in_progress", {})


# --- EventTail -----------------------------------------------------------------------


def test_event_tail_reads_only_new_records(events: Path) -> None:
    tail = EventTail(events)
    assert tail.read_new() == []  # no file yet
    append_event(events, "session_start", "in_progress", {"tag": "t"})
    append_event(events, "experiment_start", "in_progress", {"idea": "x"})
    assert [r["action"] for r in tail.read_new()] == ["session_start", "experiment_start"]
    assert tail.read_new() == []
    append_event(events, "experiment_done", "success", {"status": "keep"})
    assert [r["action"] for r in tail.read_new()] == ["experiment_done"]


def test_event_tail_waits_for_a_torn_line_to_be_completed(events: Path) -> None:
    tail = EventTail(events)
    append_event(events, "session_start", "in_progress", {"tag": "t"})
    scratch = events.parent / "scratch.jsonl"
    append_event(scratch, "experiment_done", "success", {"status": "keep", "value": 2.0})
    text = scratch.read_text()
    with events.open("a") as log:
        log.write(text[:20])
    assert [r["action"] for r in tail.read_new()] == ["session_start"]
    assert tail.skipped == 0
    with events.open("a") as log:
        log.write(text[20:])
    (record,) = tail.read_new()
    assert record["details"]["value"] == 2.0
    assert tail.skipped == 0


def test_event_tail_counts_a_torn_line_once_a_newline_follows(events: Path) -> None:
    tail = EventTail(events)
    events.parent.mkdir(parents=True)
    events.write_text('{"tool": "autoresearch", "act')  # the writer was killed
    assert tail.read_new() == []
    assert tail.skipped == 0
    append_event(events, "session_start", "in_progress", {"tag": "t"})
    assert [r["action"] for r in tail.read_new()] == ["session_start"]
    assert tail.skipped == 1


def test_event_tail_starts_over_when_the_file_shrinks(events: Path) -> None:
    tail = EventTail(events)
    append_event(events, "session_start", "in_progress", {"tag": "long" * 20})
    tail.read_new()
    events.unlink()
    append_event(events, "session_end", "success", {})
    assert [r["action"] for r in tail.read_new()] == ["session_end"]


# --- the seed README's jq queries, verbatim -------------------------------------------


@pytest.fixture
def project_log(tmp_path: Path) -> Path:
    """A project with a session: baseline keep, keep, discard, crash."""
    log = tmp_path / EVENTS_FILE
    done = [
        (
            "success",
            {
                "status": "keep",
                "metric": "val_bpb",
                "value": 0.9979,
                "prev": None,
                "delta": None,
                "commit": "a1b2c3d",
                "description": "baseline",
            },
        ),
        (
            "success",
            {
                "status": "keep",
                "metric": "val_bpb",
                "value": 0.9932,
                "prev": 0.9979,
                "delta": -0.0047,
                "commit": "b2c3d4e",
                "description": "LR 0.04",
            },
        ),
        (
            "success",
            {
                "status": "discard",
                "metric": "val_bpb",
                "value": 1.005,
                "prev": 0.9932,
                "delta": 0.0118,
                "commit": "c3d4e5f",
                "description": "GeLU",
            },
        ),
        (
            "fail",
            {
                "status": "crash",
                "metric": "val_bpb",
                "value": 0,
                "prev": 0.9932,
                "delta": None,
                "commit": "d4e5f6a",
                "description": "2x width",
                "error": "OOM",
            },
        ),
    ]
    append_event(log, "session_start", "in_progress", {"tag": "mar14", "trigger": "cli"}, now=NOW)
    for status, details in done:
        append_event(
            log,
            "experiment_start",
            "in_progress",
            {"idea": details["description"], "commit": details["commit"]},
            now=NOW,
        )
        append_event(
            log, "experiment_done", status, {**details, "memory_gb": 1.5, "tag": "mar14"}, now=NOW
        )
    append_event(log, "session_end", "success", {"tag": "mar14"}, now=NOW)
    return tmp_path


def run_jq_pipeline(project: Path, pipeline: str) -> str:
    jq = "/usr/bin/jq" if os.path.exists("/usr/bin/jq") else shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    env = {**os.environ, "PATH": f"{os.path.dirname(jq)}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", "set -o pipefail; " + pipeline],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def json_stream(text: str) -> list[dict]:
    """Parse the concatenated (pretty-printed) JSON values jq prints."""
    decoder = json.JSONDecoder()
    values, index = [], 0
    while text[index:].strip():
        index += len(text[index:]) - len(text[index:].lstrip())
        value, index = decoder.raw_decode(text, index)
        values.append(value)
    return values


def test_jq_recent_experiments(project_log: Path) -> None:
    out = run_jq_pipeline(
        project_log, "grep experiment_done .claude/logs/autoresearch.jsonl | tail -10 | jq ."
    )
    records = json_stream(out)
    assert [r["details"]["status"] for r in records] == ["keep", "keep", "discard", "crash"]
    assert [r["status"] for r in records] == ["success", "success", "success", "fail"]
    assert records[0]["details"]["prev"] is None and records[0]["details"]["delta"] is None


def test_jq_successful_improvements(project_log: Path) -> None:
    out = run_jq_pipeline(
        project_log, """jq 'select(.details.status == "keep")' .claude/logs/autoresearch.jsonl"""
    )
    records = json_stream(out)
    assert [r["details"]["value"] for r in records] == [0.9979, 0.9932]
    assert {r["action"] for r in records} == {"experiment_done"}


def test_jq_metric_trend(project_log: Path) -> None:
    out = run_jq_pipeline(
        project_log,
        "grep experiment_done .claude/logs/autoresearch.jsonl | "
        "jq -r '[.local_time[:19], .details.status, .details.value] | @tsv'",
    )
    assert out == (
        "2025-03-14T15:09:26\tkeep\t0.9979\n"
        "2025-03-14T15:09:26\tkeep\t0.9932\n"
        "2025-03-14T15:09:26\tdiscard\t1.005\n"
        "2025-03-14T15:09:26\tcrash\t0\n"
    )
