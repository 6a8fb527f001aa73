"""autoresearch results: summary, table, formats, queries, the digest cache and the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import state_dir

from autoresearch import ledger
from autoresearch.errors import ConfigError, EnvironmentProblem, ExitCode
from autoresearch.results import (
    SPARK_CHARS, query, render, report, running_best, sparkline, summarize, summary_of,
)
from autoresearch.results_index import INDEX_FILE, digest_records, load_index, source_of

START = datetime(2025, 11, 25, 22, 0, 0)
FOREIGN_LINE = '{"tool": "other", "action": "x", "details": {}}\n'
TORN_LINE = '{"tool": "autoresearch", "action": "experiment_done", "status": "succ'

# (status, value, description, reason) of tag nov25, in order; crash values are None
NOV25 = [
    ("keep", 1.0, "baseline", "baseline"),
    ("keep", 0.95, "raise the learning rate", "improved"),
    ("discard", 0.97, "switch to GeLU", "not improved"),
    ("crash", None, "double the width", "timeout"),
    ("keep", 0.90, "cosine schedule | warmup", "improved"),
    ("discard", 0.99, "remove dropout", "not improved"),
]


class Log:
    """Writes experiment_done records the way the loop does, tracking the best."""

    def __init__(self, project: Path):
        self.path = project / ledger.EVENTS_FILE
        self.best: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.written: list[dict] = []

    def experiment(self, tag: str, status: str, value: float | None, description: str,
                   reason: str, **extras) -> dict:
        number = self.count[tag] = self.count.get(tag, 0) + 1
        prev = self.best.get(tag)
        crashed = status == "crash"
        details = {
            "status": status, "metric": "val_bpb", "value": 0 if crashed else value,
            "prev": prev, "delta": None if prev is None or crashed else round(value - prev, 10),
            "commit": f"{number:03d}{tag[:4]:0<4}", "description": description,
            "memory_gb": 1.5, "tag": tag, "number": number, "reason": reason,
            "duration_s": 60.0, "agent_s": 30.0, "agent_cost_usd": 0.25,
            "direction": "lower_is_better", **extras,
        }
        if crashed:
            details["error"] = "timed out after 60 s"
        if status == "keep":
            self.best[tag] = value
        moment = START + timedelta(minutes=len(self.written))
        record = ledger.append_event(self.path, "experiment_done",
                                     "fail" if crashed else "success", details, now=moment)
        self.written.append(record)
        return record

    def event(self, action: str, details: dict) -> dict:
        return ledger.append_event(self.path, action, "success", details, now=START)

    def raw(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


def cache_here(project: Path) -> None:
    """Make ``project`` a repository with a state directory: results then caches its digest
    there (it never creates the directory itself)."""
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    state_dir(project).mkdir(parents=True)


@pytest.fixture
def log(project: Path) -> Log:
    """Tag old (2 experiments), then tag nov25 (6), a calibration, a foreign and a torn line."""
    log = Log(project)
    log.event("session_start", {"tag": "old", "trigger": "test"})
    log.experiment("old", "keep", 2.0, "old baseline", "baseline")
    log.experiment("old", "discard", 2.5, "old idea", "not improved")
    log.event("session_start", {"tag": "nov25", "trigger": "test"})
    log.event("calibration", {"tag": "nov25", "noise_floor": 0.002, "metric": "val_bpb"})
    log.raw(FOREIGN_LINE)
    for status, value, description, reason in NOV25:
        log.experiment("nov25", status, value, description, reason)
    log.event("session_end", {"tag": "nov25"})
    log.raw(TORN_LINE)
    return log


def nov25(log: Log) -> list[dict]:
    return [r for r in log.written if r["details"]["tag"] == "nov25"]


def results(project: Path, **options) -> str:
    arguments = {"tag": None, "fmt": "table", "last": None, "status": None,
                 "query_expr": None, "plot_path": None, "colour": False, **options}
    return report(project, **arguments)


def table_rows(text: str) -> list[str]:
    """The table's lines after its header row."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#  commit"))
    return [line for line in lines[header + 1:] if line and not line.startswith("skipped")]


# -- summary -------------------------------------------------------------------------------


def test_summary_counts_rates_and_best(log):
    summary = summarize(nov25(log))
    assert (summary.experiments, summary.kept, summary.discarded, summary.crashed) == (6, 3, 2, 1)
    assert summary.keep_rate == pytest.approx(2 / 5)  # improvements per attempt after baseline
    assert (summary.baseline, summary.best) == (1.0, 0.90)
    assert summary.best_change_pct == pytest.approx(-10.0)
    assert summary.improved
    assert summary.best_commit == "005nov2"
    assert summary.best_description == "cosine schedule | warmup"
    assert summary.total_s == pytest.approx(6 * 90)
    assert summary.agent_cost_usd == pytest.approx(6 * 0.25)
    assert (summary.metric, summary.direction, summary.tag) == ("val_bpb", "lower_is_better",
                                                                "nov25")


def test_noise_floor_comes_from_calibration_unless_the_experiments_carry_one(log):
    calibration = [r for r in ledger.read_events(log.path)[0] if r["action"] == "calibration"]
    assert summarize(calibration + nov25(log)).noise_floor == 0.002
    assert summarize(nov25(log)).noise_floor is None
    log.experiment("nov25", "discard", 0.93, "later", "not improved", noise_floor=0.004)
    assert summarize(calibration + nov25(log)).noise_floor == 0.004


def test_higher_is_better_counts_a_rise_as_better(project):
    log = Log(project)
    log.experiment("acc", "keep", 0.80, "baseline", "baseline", direction="higher_is_better")
    log.experiment("acc", "keep", 0.88, "more data", "improved", direction="higher_is_better")
    summary = summarize(log.written)
    assert summary.best_change_pct == pytest.approx(10.0)
    assert summary.improved and not summary.lower_is_better


def test_seed_records_without_extras_infer_the_direction_from_kept_deltas():
    def seed(status, value, prev):
        delta = None if prev is None else value - prev
        return {"action": "experiment_done", "details": {
            "status": status, "metric": "acc", "value": value, "prev": prev, "delta": delta,
            "commit": "abcdef1", "description": "x", "memory_gb": 0, "tag": "seed"}}

    summary = summarize([seed("keep", 0.5, None), seed("keep", 0.6, 0.5),
                         seed("discard", 0.55, 0.6)])
    assert summary.direction == "higher_is_better"
    assert summary.total_s is None and summary.agent_cost_usd is None
    assert "0.5 → 0.6 (+20.00%, better)" in render([seed("keep", 0.5, None),
                                                     seed("keep", 0.6, 0.5)])


def test_sparkline_scales_and_running_best_is_monotone(log):
    assert sparkline([3.0, 2.0, 2.0, 1.0]) == "█▅▅▁"
    assert sparkline([]) == ""
    assert sparkline([5.0, 5.0]) == "▁▁"
    series = running_best(digest_records(nov25(log)))
    assert series == [1.0, 0.95, 0.95, 0.95, 0.90, 0.90]
    line = render(nov25(log)).splitlines()
    spark = next(text for text in line if text.startswith("running best")).split()[-1]
    levels = [SPARK_CHARS.index(char) for char in spark]
    assert levels == sorted(levels, reverse=True) and levels[0] > levels[-1]


# -- the table and its options -------------------------------------------------------------


def test_report_shows_summary_then_table_of_the_newest_tag(project, log):
    text = results(project)
    assert "tag              nov25 — val_bpb (lower is better)" in text
    assert "6 (3 kept, 2 discarded, 1 crashed), keep rate 40.0%" in text
    assert "1 → 0.9 (-10.00%, better)" in text
    assert "005nov2 cosine schedule | warmup" in text
    assert "9m00s (runs + agent), agent cost $1.50" in text
    assert "noise floor      ±0.002" in text
    rows = table_rows(text)
    assert [row.split()[0] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert "keep (improved)" in rows[1] and "-0.05" in rows[1]
    assert "crash (timeout)" in rows[3] and "double the width" in rows[3]


def test_keep_rows_stand_out_only_with_colour(project, log):
    coloured = table_rows(results(project, colour=True))
    assert coloured[0].startswith("\033[1;32m") and coloured[4].startswith("\033[1;32m")
    assert not coloured[2].startswith("\033")
    assert "\033" not in results(project)


def test_last_and_status_pick_rows_but_not_the_summary(project, log):
    assert [row.split()[0] for row in table_rows(results(project, last=2))] == ["5", "6"]
    discards = table_rows(results(project, status="discard"))
    assert [row.split()[0] for row in discards] == ["3", "6"]
    assert [row.split()[0] for row in table_rows(results(project, status="keep", last=1))] == [
        "5"]
    assert "6 (3 kept" in results(project, status="crash", last=1)


def test_bad_status_format_or_last_is_a_config_error(project, log):
    with pytest.raises(ConfigError) as caught:
        results(project, status="kept")
    assert str(caught.value) == "--status: 'kept' is not valid; use one of keep, discard, crash"
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    with pytest.raises(ConfigError, match="--format: 'xml'.*table, tsv, json, md"):
        results(project, fmt="xml")
    with pytest.raises(ConfigError, match="--last"):
        results(project, last=-1)


def test_tag_option_chooses_the_experiments(project, log):
    text = results(project, tag="old")
    assert "2 (1 kept, 1 discarded, 0 crashed)" in text
    assert [row.split()[-1] for row in table_rows(text)] == ["baseline", "idea"]


def test_no_experiments_says_so_and_names_the_tags(project, log):
    assert results(project, tag="dec01") == (
        f"no experiments logged yet for tag dec01 in {ledger.EVENTS_FILE} "
        "(tags in the log: nov25, old); run 'autoresearch loop'\n"
        "skipped 2 unreadable lines in .claude/logs/autoresearch.jsonl")
    empty = project / "empty"
    empty.mkdir()
    assert results(empty).startswith("no experiments logged yet in ")
    assert results(empty, fmt="json") == "[]"


def test_skipped_lines_are_counted_on_their_own_line(project, log, capsys):
    text = results(project)
    assert text.splitlines()[-1] == f"skipped 2 unreadable lines in {ledger.EVENTS_FILE}"
    json.loads(results(project, fmt="json"))  # stdout stays parseable
    assert "skipped 2 unreadable lines" in capsys.readouterr().err


# -- formats -------------------------------------------------------------------------------


def test_json_is_the_records_themselves(project, log):
    assert json.loads(results(project, fmt="json")) == nov25(log)
    assert json.loads(results(project, fmt="json", status="keep", last=1)) == [nov25(log)[4]]


def test_tsv_starts_with_the_results_tsv_columns(project, log):
    lines = results(project, fmt="tsv").splitlines()
    assert lines[0].startswith("commit\tmetric\tvalue\tstatus\tdescription\tnumber\t")
    assert len(lines) == 7
    assert lines[1].split("\t")[:5] == ["001nov2", "val_bpb", "1.000000", "keep", "baseline"]
    assert lines[4].split("\t")[2:4] == ["0.000000", "crash"]


def test_markdown_has_a_title_bullets_and_a_table(project, log):
    text = results(project, fmt="md")
    lines = text.splitlines()
    assert lines[0] == "### autoresearch nov25: val_bpb 1 → 0.9 (-10.00%, better)"
    assert "|---|---|---|---|---|---|---|" in lines
    assert "cosine schedule \\| warmup" in text
    assert "**keep (improved)**" in text


# -- the newer keys: holdout, confidence, flags ------------------------------------------


@pytest.fixture
def judged(project: Path) -> Log:
    """Tag hold: records written by a loop with a holdout, paired decisions and the audit."""
    log = Log(project)
    log.experiment("hold", "keep", 1.0, "baseline", "baseline", holdout=2.0)
    log.experiment("hold", "keep", 0.9, "change the seed", "improved", holdout=2.1,
                   confidence=0.9731, flags=["seed"])
    log.experiment("hold", "discard", 0.95, "time it", "not improved", confidence=0.5,
                   flags=["timing", "metric-name"])
    log.experiment("hold", "keep", 0.8, "wider layer", "improved", holdout=1.9,
                   flags=["timing"])
    return log


def test_table_shows_holdout_confidence_and_flags_before_the_description(project, judged):
    text = results(project)
    header = text.splitlines()[next(i for i, line in enumerate(text.splitlines())
                                    if line.startswith("#  commit"))]
    assert header.split() == ["#", "commit", "value", "delta", "status", "time", "holdout",
                              "confidence", "flags", "description"]
    rows = table_rows(text)
    assert rows[1].split()[-6:] == ["2.1", "97.3%", "seed", "change", "the", "seed"]
    assert rows[2].split()[-4:] == ["50.0%", "timing,metric-name", "time", "it"]
    assert "flagged keeps    #2 002hold (seed), #4 004hold (timing)" in text


def test_the_newer_columns_appear_only_when_a_shown_record_carries_them(project, judged):
    assert "holdout" not in results(project, tag="hold", status="discard").split("\n\n")[1]
    assert "confidence" in results(project, tag="hold", status="discard")


def test_tsv_and_markdown_add_the_newer_columns_at_the_end(project, judged):
    lines = results(project, fmt="tsv").splitlines()
    header = lines[0].split("\t")
    assert header[-4:] == ["local_time", "holdout", "confidence", "flags"]
    assert lines[2].split("\t")[-3:] == ["2.1", "0.9731", "seed"]
    assert lines[3].split("\t")[-3:] == ["", "0.5", "timing,metric-name"]
    markdown = results(project, fmt="md")
    assert "| # | commit | value | delta | status | time | description | holdout | confidence " \
           "| flags |" in markdown
    assert "| change the seed | 2.1 | 97.3% | seed |" in markdown
    assert "- **flagged keeps**: #2 002hold (seed), #4 004hold (timing)" in markdown


def test_a_log_without_them_keeps_the_tsv_columns_empty(project, log):
    lines = results(project, fmt="tsv").splitlines()
    assert all(line.split("\t")[-3:] == ["", "", ""] for line in lines[1:])
    assert "flagged" not in results(project)


def test_the_seeds_records_show_their_commit_and_values():
    record = {"tool": "autoresearch", "action": "experiment_done", "details": {
        "status": "keep", "metric": "acc", "value": 0.5, "prev": None, "delta": None,
        "commit": "abcdef1", "description": "baseline", "memory_gb": 0, "tag": "seed"}}
    rows = table_rows(render([record]))
    assert rows[0].split() == ["1", "abcdef1", "0.5", "keep", "baseline"]


# -- query ---------------------------------------------------------------------------------


def test_query_returns_json_of_the_selected_records(project, log):
    assert results(project, query_expr="length([?details.status=='crash'])") == "1"
    best = "min_by([?details.delta != null], &details.delta).details.description"
    assert json.loads(results(project, query_expr=best)) == "raise the learning rate"
    assert json.loads(results(project, query_expr="[].details.number", last=2)) == [5, 6]


def test_query_parse_error_points_at_the_column(log):
    with pytest.raises(ConfigError) as caught:
        query(nov25(log), "[?details.value > ]")
    message = str(caught.value)
    assert message.startswith("--query '[?details.value > ]': invalid token ']' at column 19")
    assert "\n" not in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("expression, words", [
    ("[?details.value > 'a']", "compare or sort values of one type only"),
    ("max_by(@, &details.delta)", "max_by"),
    ("`abc", "Unclosed ` delimiter at column 1"),
    ("length(@", "ends too early"),
    ("nope(@)", "Unknown function"),
])
def test_query_errors_are_one_line_config_errors(log, expression, words):
    with pytest.raises(ConfigError) as caught:
        query(nov25(log), expression)
    assert words in str(caught.value) and "\n" not in str(caught.value)


# -- the digest cache ----------------------------------------------------------------------


def test_cached_digest_matches_a_fresh_one_and_follows_appends(project, log):
    cache_here(project)
    first = results(project)
    assert (state_dir(project) / INDEX_FILE).exists()
    assert results(project) == first
    log.raw("\n")  # the ledger ends the torn line before the next record
    log.experiment("nov25", "keep", 0.85, "label smoothing", "improved")
    text = results(project)
    assert "7 (4 kept" in text and "label smoothing" in text
    records, skipped = ledger.read_events(log.path)
    fresh = summarize(ledger.experiments(records, "nov25") + [
        r for r in records if r["action"] == "calibration"])
    assert load_index(source_of(project)).skipped == skipped == 2
    assert summary_of(load_index(source_of(project)).tag("nov25")) == fresh


def test_a_rewritten_log_is_digested_again(project, log):
    cache_here(project)
    results(project)
    log.path.write_text("")
    Log(project).experiment("nov25", "keep", 3.0, "fresh start", "baseline")
    text = results(project)
    assert "1 (1 kept, 0 discarded, 0 crashed)" in text and "skipped" not in text


def test_a_line_still_being_written_is_not_cached(project):
    cache_here(project)
    log = Log(project)
    log.experiment("t", "keep", 1.0, "baseline", "baseline")
    line = json.dumps({"tool": "autoresearch", "action": "experiment_done", "status": "success",
                       "details": {"status": "discard", "value": 1.2, "prev": 1.0,
                                   "tag": "t", "description": "half written"}})
    complete = log.path.stat().st_size
    log.raw(line[:40])
    assert "skipped 1 unreadable line in" in results(project)
    assert json.loads((state_dir(project) / INDEX_FILE).read_text())["size"] == complete
    log.raw(line[40:] + "\n")
    text = results(project)
    assert "2 (1 kept, 1 discarded" in text and "skipped" not in text


def test_a_broken_cache_is_ignored(project, log):
    cache_here(project)
    expected = results(project)
    (state_dir(project) / INDEX_FILE).write_text("{not json")
    assert results(project) == expected


# -- plot ----------------------------------------------------------------------------------


def test_plot_writes_a_png_that_follows_the_data(project, log):
    picture = project / "progress.png"
    text = results(project, plot_path=picture)
    assert text.endswith(f"plot written to {picture}")
    first = picture.read_bytes()
    assert first.startswith(b"\x89PNG\r\n\x1a\n") and len(first) > 1024
    log.raw("\n")
    log.experiment("nov25", "keep", 0.5, "a much better idea", "improved")
    results(project, plot_path=picture)
    assert picture.read_bytes() != first


def test_plot_without_matplotlib_names_the_extra(project, log, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(EnvironmentProblem) as caught:
        results(project, plot_path=project / "p.png")
    assert str(caught.value) == "--plot needs the plot extra: pip install 'autoresearch[plot]'"
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


def test_plot_to_a_missing_directory_is_a_config_error(project, log):
    with pytest.raises(ConfigError, match="--plot .*cannot write"):
        results(project, plot_path=project / "no" / "such" / "dir.png")
