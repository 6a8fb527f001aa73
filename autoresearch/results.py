"""What ``autoresearch results`` prints: a summary of one tag's night, a table, formats, queries.

Input is the JSONL event log: the ``experiment_done`` records of one tag, plus its
``calibration`` records for the noise floor. Everything else is ignored.

- **Summary** — experiments run, kept (the baseline included), discarded, crashed and the
  keep rate (kept improvements per attempt after the baseline); baseline → best with the
  signed relative change and whether that is better for the metric's direction; the best
  commit (the last keep, which is the tip of ``autoresearch/<tag>``) and its description;
  wall time (the sum of ``duration_s`` and ``agent_s``) and agent cost; the noise floor
  when known; a sparkline of the running best.
- **Table** — number, commit, value, delta to the best before it, status (reason), run
  time, then the columns of newer keys when a shown record carries them (``holdout``: the
  sealed holdout's value; ``confidence``: the paired decision's, as a percentage;
  ``flags``: the audit's short words, such as seed or timing), then the description.
  ``last`` keeps the last N rows, ``status`` only one status; the summary always covers
  every experiment of the tag, and lists the flagged keeps.
- **Formats** — ``table`` (aligned text), ``tsv`` (results.tsv's columns, then extras,
  always in the same order: new columns are added at the end), ``json`` (the records
  themselves), ``md`` (summary and table for a pull request; the newer columns last).

Every experiment shown is read as a typed ``Experiment`` (``Experiment.from_record``); the
keys added after the seed's are in ``Experiment.more``.
- **Query** — a jmespath expression over the selected records, printed as JSON.

Speed: ``report`` works from the incremental digest of ``results_index`` and parses only
the records it shows, so a 100,000-experiment log costs little more than a short one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autoresearch import output
from autoresearch.errors import ConfigError
from autoresearch.experiment import Experiment
from autoresearch.ledger import EVENTS_FILE, STATUSES
from autoresearch.results_index import (
    CODES, LogIndex, LogSource, TagDigest, digest_records, flags_of, load_index, number,
    read_records, seconds_of, source_of,
)

FORMATS = ("table", "tsv", "json", "md")
SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48  # the running best is sampled down to at most this many characters
TSV_EXTRAS = ("number", "prev", "delta", "reason", "duration_s", "agent_s",
              "agent_cost_usd", "memory_gb", "tag")
NEWER_COLUMNS = ("holdout", "confidence", "flags")  # Experiment.more keys, shown when logged
TABLE_HEADER = ("#", "commit", "value", "delta", "status", "time", "description")
RIGHT_ALIGNED = {"#", "value", "delta", "time", "holdout", "confidence"}  # numbers
FLAGGED_SHOWN = 10  # the summary names at most this many flagged keeps, the newest
ROW_STYLES = {"keep": "1;32", "crash": "31"}  # ANSI: bold green, red
REASON_WIDTH = 40


@dataclass(frozen=True)
class Summary:
    """The numbers of one tag's experiments; values are None when the log does not tell."""

    experiments: int
    kept: int  # including the baseline
    discarded: int
    crashed: int
    keep_rate: float | None  # kept improvements / attempts, both after the baseline
    baseline: float | None
    best: float | None  # the last keep: what autoresearch/<tag> holds
    best_change_pct: float | None  # (best - baseline) / |baseline| * 100, signed
    best_commit: str | None
    best_description: str | None
    total_s: float | None  # sum of duration_s + agent_s
    agent_cost_usd: float | None
    noise_floor: float | None
    metric: str | None
    direction: str
    tag: str | None
    flagged: tuple[tuple[int, str, tuple[str, ...]], ...] = ()  # (number, commit, flags)

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower_is_better"

    @property
    def improved(self) -> bool:
        """True when the best beats the baseline in the metric's direction."""
        if self.best is None or self.baseline is None:
            return False
        gain = self.baseline - self.best if self.lower_is_better else self.best - self.baseline
        return gain > 0


# -- the summary -------------------------------------------------------------------------


def change_pct(baseline: float | None, best: float | None) -> float | None:
    if baseline is None or best is None or baseline == 0:
        return None
    return (best - baseline) / abs(baseline) * 100


def summary_of(digest: TagDigest) -> Summary:
    """The summary of one tag's digest."""
    kept, discarded, crashed = (digest.codes.count(CODES[status]) for status in STATUSES)
    attempts = digest.count - digest.baselines - digest.failed_baselines
    best = number(digest.best.get("value"))
    return Summary(
        experiments=digest.count,
        kept=kept,
        discarded=discarded,
        crashed=crashed,
        keep_rate=(kept - digest.baselines) / attempts if attempts > 0 else None,
        baseline=digest.baseline,
        best=best,
        best_change_pct=change_pct(digest.baseline, best),
        best_commit=digest.best.get("commit"),
        best_description=digest.best.get("description"),
        total_s=digest.seconds,
        agent_cost_usd=digest.cost,
        noise_floor=digest.noise_floor,
        metric=digest.newest.get("metric"),
        direction=digest.direction,
        tag=digest.newest.get("tag"),
        flagged=tuple((number, commit, tuple(flags)) for number, commit, flags in digest.flagged),
    )


def summarize(records: list[dict]) -> Summary:
    """The summary of one tag's experiment_done (and calibration) records."""
    return summary_of(digest_records(records))


def running_best(digest: TagDigest) -> list[float | None]:
    """The best kept value after each experiment (None before the first keep): monotone."""
    pick = min if digest.direction == "lower_is_better" else max
    series: list[float | None] = [None] * digest.count
    best = None
    stops = digest.keep_positions[1:] + [digest.count]
    for start, stop, value in zip(digest.keep_positions, stops, digest.keep_values):
        best = value if best is None else pick(best, value)
        series[start:stop] = [best] * (stop - start)
    return series


def _sample(values: list[float], width: int) -> list[float]:
    """At most ``width`` values: the last of each of ``width`` equal buckets."""
    if len(values) <= width:
        return values
    return [values[(i + 1) * len(values) // width - 1] for i in range(width)]


def sparkline(values: list[float]) -> str:
    """One block character per value, scaled from the lowest to the highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((value - low) / span * top)] for value in values)


def _spark(digest: TagDigest) -> str:
    known = [value for value in running_best(digest) if value is not None]
    return sparkline(_sample(known, SPARK_WIDTH))


# -- formatting values -------------------------------------------------------------------


def format_value(value) -> str:
    """A metric value in 6 significant digits; "—" when there is none."""
    value = number(value)
    return "—" if value is None else f"{value:.6g}"


def format_delta(value) -> str:
    value = number(value)
    return "" if value is None else f"{value:+.6g}"


def format_pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}%"


def format_duration(seconds: float | None) -> str:
    """12.3s, 5m02s or 3h12m."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _one_line(text) -> str:
    """``text`` on one line, terminal control characters shown as ``?`` (an agent writes the
    descriptions: an escape sequence must never reach the reader's terminal)."""
    return output.safe(" ".join(str(text if text is not None else "").split()))


def format_confidence(value) -> str:
    """A paired decision's confidence (0 to 1) as a percentage: ``97.5%``."""
    value = number(value)
    return "" if value is None else f"{value * 100:.1f}%"


def _status_text(experiment: Experiment) -> str:
    """``keep (improved)``; a crash without a reason shows its error, shortened."""
    status = experiment.status
    reason = _one_line(experiment.reason or (experiment.error if experiment.crashed else None))
    if len(reason) > REASON_WIDTH:
        reason = reason[:REASON_WIDTH - 1] + "…"
    return f"{status} ({reason})" if reason else status


# -- the summary as lines ----------------------------------------------------------------


def progress_text(summary: Summary) -> str:
    """``0.9979 → 0.9932 (-0.47%, better)``."""
    if summary.baseline is None:
        return "no successful baseline yet"
    text = f"{format_value(summary.baseline)} → {format_value(summary.best)}"
    if summary.best_change_pct is not None:
        verdict = "better" if summary.improved else "not better"
        text += f" ({format_pct(summary.best_change_pct)}, {verdict})"
    return text


def _counts_text(summary: Summary) -> str:
    rate = "" if summary.keep_rate is None else f", keep rate {summary.keep_rate:.1%}"
    return (f"{summary.experiments} ({summary.kept} kept, {summary.discarded} discarded, "
            f"{summary.crashed} crashed){rate}")


def _summary_lines(summary: Summary, spark: str) -> list[tuple[str, str]]:
    """(label, text) pairs, rendered as aligned text or as Markdown bullets."""
    words = "lower is better" if summary.lower_is_better else "higher is better"
    lines = [("tag", f"{summary.tag} — {summary.metric or 'metric'} ({words})"),
             ("experiments", _counts_text(summary)),
             ("baseline → best", progress_text(summary))]
    if summary.best_commit:
        lines.append(("best commit", f"{summary.best_commit[:7]} "
                                     f"{_one_line(summary.best_description)}"))
    if summary.total_s is not None or summary.agent_cost_usd is not None:
        cost = ("" if summary.agent_cost_usd is None
                else f", agent cost ${summary.agent_cost_usd:.2f}")
        lines.append(("time", f"{format_duration(summary.total_s) or '—'} (runs + agent){cost}"))
    if summary.noise_floor is not None:
        lines.append(("noise floor", f"±{format_value(summary.noise_floor)}"))
    if summary.flagged:
        lines.append(("flagged keeps", _flagged_text(summary.flagged)))
    if spark:
        lines.append(("running best", spark))
    return lines


def _flagged_text(flagged: tuple[tuple[int, str, tuple[str, ...]], ...]) -> str:
    """``#5 a1b2c3d (seed), #9 b2c3d4e (timing, metric-name)``, the newest few."""
    shown = [f"#{number} {commit} ({', '.join(flags)})"
             for number, commit, flags in flagged[-FLAGGED_SHOWN:]]
    more = len(flagged) - len(shown)
    return ", ".join(shown) + (f" and {more} earlier" if more else "")


# -- the formats -------------------------------------------------------------------------


def _newer_cells(experiment: Experiment) -> dict[str, str]:
    """The cells of the newer keys the experiment carries (holdout, confidence, flags)."""
    more = experiment.more
    cells = {}
    if "holdout" in more:
        cells["holdout"] = format_value(more["holdout"])
    if "confidence" in more:
        cells["confidence"] = format_confidence(more["confidence"])
    if "flags" in more:
        cells["flags"] = ",".join(flags_of(experiment))
    return cells


def _newer_columns(chosen: list[tuple[int, Experiment]]) -> tuple[str, ...]:
    """The newer columns some shown experiment carries, in NEWER_COLUMNS' order."""
    return tuple(key for key in NEWER_COLUMNS if any(key in e.more for _, e in chosen))


def _row(position: int, experiment: Experiment, newer: tuple[str, ...]) -> dict[str, str]:
    """The table cells of one experiment by column; ``#`` falls back to its position."""
    crashed = experiment.crashed
    run, _ = seconds_of(experiment)
    extra = _newer_cells(experiment)
    return {
        "#": str(experiment.number or position + 1),
        "commit": experiment.short_commit,
        "value": "—" if crashed else format_value(experiment.value),
        "delta": "" if crashed else format_delta(experiment.delta),
        "status": _status_text(experiment),
        "time": format_duration(run),
        **{key: extra.get(key, "") for key in newer},
        "description": _one_line(experiment.description),
    }


def aligned(header: tuple[str, ...], rows: list[tuple[str, ...]],
            right: set[str] = RIGHT_ALIGNED) -> list[str]:
    """The header and rows with columns padded to their widest cell; the columns named in
    ``right`` (numbers) right-aligned; the last column free."""
    rows = [header] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return [
        "  ".join([cell.rjust(width) if header[i] in right else cell.ljust(width)
                   for i, (cell, width) in enumerate(zip(row, widths))] + [row[-1]]).rstrip()
        for row in rows
    ]


def _paint(line: str, experiment: Experiment, colour: bool) -> str:
    codes = ROW_STYLES.get(experiment.status)
    return f"\033[{codes}m{line}\033[0m" if colour and codes else line


def _table(summary: Summary, spark: str, chosen: list[tuple[int, Experiment]],
           colour: bool) -> str:
    labels = _summary_lines(summary, spark)
    width = max(len(label) for label, _ in labels)
    head = [f"{label.ljust(width)}  {text}" for label, text in labels]
    if not chosen:
        return "\n".join(head + ["", "no experiments match"])
    newer = _newer_columns(chosen)
    header = TABLE_HEADER[:-1] + newer + TABLE_HEADER[-1:]  # the description stays last
    rows = [_row(p, e, newer) for p, e in chosen]
    lines = aligned(header, [tuple(row[column] for column in header) for row in rows])
    body = [_paint(line, e, colour) for line, (_, e) in zip(lines[1:], chosen)]
    return "\n".join(head + ["", lines[0]] + body)


def _tsv_cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_one_line(item) for item in value)
    return "" if value is None else _one_line(value)


def _tsv_extras(e: Experiment) -> tuple:
    """The values of TSV_EXTRAS, then of NEWER_COLUMNS (raw: confidence from 0 to 1)."""
    m, agent = e.measurement, e.agent
    run, _ = seconds_of(e)
    return (e.number or None, e.prev, e.delta, e.reason or None, run,
            agent.seconds if agent else None, agent.cost_usd if agent else None,
            m.memory_gb if m else None, e.tag or None,
            number(e.more.get("holdout")), number(e.more.get("confidence")),
            flags_of(e) or None)


def _tsv_row(record: dict) -> str:
    """results.tsv's five cells (value as %.6f, 0 for a crash), the extras, the local time,
    then the newer columns."""
    e = Experiment.from_record(record)
    cells = [e.short_commit, _one_line(e.metric),
             "%.6f" % (e.value or 0.0), e.status, _one_line(e.description)]
    extras = [_tsv_cell(value) for value in _tsv_extras(e)]
    newer = len(NEWER_COLUMNS)
    return "\t".join(cells + extras[:-newer] + [_tsv_cell(e.local_time)] + extras[-newer:])


def _tsv(chosen: list[tuple[int, dict]]) -> str:
    header = ["commit", "metric", "value", "status", "description", *TSV_EXTRAS, "local_time",
              *NEWER_COLUMNS]
    return "\n".join(["\t".join(header)] + [_tsv_row(record) for _, record in chosen])


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(summary: Summary, spark: str, chosen: list[tuple[int, Experiment]]) -> str:
    title = f"### autoresearch {summary.tag}: {summary.metric} {progress_text(summary)}"
    bullets = [f"- **{label}**: {_md_cell(text)}"
               for label, text in _summary_lines(summary, spark)
               if label not in ("tag", "baseline → best")]  # both are in the title
    header = TABLE_HEADER + _newer_columns(chosen)  # newer columns at the end
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for position, experiment in chosen:
        cells = _row(position, experiment, header[len(TABLE_HEADER):])
        cells["commit"] = f"`{cells['commit']}`" if cells["commit"] else ""
        if experiment.kept:
            cells["status"] = f"**{cells['status']}**"
        table.append("| " + " | ".join(_md_cell(cells[column]) for column in header) + " |")
    return "\n".join([title, ""] + bullets + [""] + table)


def _render(digest: TagDigest, chosen: list[tuple[int, dict]], fmt: str, colour: bool) -> str:
    """The chosen (position, record) rows as ``fmt``, with the digest's summary."""
    if fmt == "json":
        return json.dumps([record for _, record in chosen], indent=2, ensure_ascii=False)
    if fmt == "tsv":
        return _tsv(chosen)
    summary, spark = summary_of(digest), _spark(digest)
    typed = [(position, Experiment.from_record(record)) for position, record in chosen]
    if fmt == "md":
        return _markdown(summary, spark, typed)
    return _table(summary, spark, typed, colour)


def check_options(fmt: str, status: str | None, last: int | None) -> None:
    """ConfigError naming the option when a format, status or row count is not accepted."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not valid; use one of {', '.join(FORMATS)}")
    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status: {status!r} is not valid; use one of {', '.join(STATUSES)}")
    if last is not None and last < 0:
        raise ConfigError(f"--last: {last!r} is not valid; use a whole number (0 shows all)")


def render(records: list[dict], *, fmt: str = "table", last: int | None = None,
           status: str | None = None, colour: bool = False) -> str:
    """One tag's records as ``fmt``; ``last`` (0 or None: all) and ``status`` pick the rows."""
    check_options(fmt, status, last)
    digest = digest_records(records)
    chosen = [(position, records[location])
              for position, location in digest.select(status, last)]
    return _render(digest, chosen, fmt, colour)


# -- query -------------------------------------------------------------------------------


def _query_problem(exc: Exception) -> str:
    """What is wrong with a jmespath expression, in words, with its column when known."""
    from jmespath import exceptions as jex

    if isinstance(exc, jex.LexerError):
        what = exc.message
    elif isinstance(exc, jex.IncompleteExpressionError):
        what = "the expression ends too early"
    elif isinstance(exc, jex.ParseError) and getattr(exc, "token_type", None):
        what = f"{exc.msg} {exc.token_value!r}"
    elif isinstance(exc, TypeError):
        what = f"{exc} (compare or sort values of one type only)"
    else:
        what = str(exc)
    position = getattr(exc, "lex_position", None)
    where = f" at column {position + 1}" if isinstance(position, int) else ""
    return _one_line(what + where)


def query(records: list[dict], expression: str) -> str:
    """The jmespath ``expression`` applied to ``records`` (a list), as indented JSON."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        found = jmespath.search(expression, records)
    except (JMESPathError, TypeError, ValueError) as exc:
        raise ConfigError(f"--query {expression!r}: {_query_problem(exc)}; "
                          "see https://jmespath.org/specification.html") from None
    return json.dumps(found, indent=2, ensure_ascii=False)


# -- the command -------------------------------------------------------------------------


def _nothing_yet(tag: str | None, tags: list[str]) -> str:
    others = f" (tags in the log: {', '.join(sorted(tags))})" if tags else ""
    for_tag = f" for tag {tag}" if tag else ""
    return f"no experiments logged yet{for_tag} in {EVENTS_FILE}{others}; run 'autoresearch loop'"


def _read_chosen(source: LogSource, pairs: list[tuple[int, int]]) -> list[tuple[int, dict]]:
    """(position, record) for (position, byte offset) pairs; lines gone bad are left out."""
    records = read_records(source, [location for _, location in pairs])
    return [(position, record) for (position, _), record in zip(pairs, records) if record]


def _plot(source: LogSource, digest: TagDigest, path: Path) -> None:
    from autoresearch.plot import plot_progress

    chosen = _read_chosen(source, digest.select(None, None))
    summary = summary_of(digest)
    plot_progress([Experiment.from_record(record) for _, record in chosen], running_best(digest),
                  path, title=f"autoresearch {summary.tag}: {summary.experiments} experiments, "
                              f"{summary.kept} kept",
                  metric=str(digest.newest.get("metric") or ""), direction=digest.direction)


def _skipped_note(skipped: int) -> str:
    return f"skipped {skipped} unreadable line{'s' if skipped != 1 else ''} in {EVENTS_FILE}"


def _answer(index: LogIndex, tag: str | None, chosen: list[tuple[int, dict]], *, fmt: str,
            query_expr: str | None, colour: bool) -> str:
    """The query's result, the "nothing logged yet" message, or the chosen rows as ``fmt``."""
    digest = index.tag(tag)
    if query_expr is not None:
        return query([record for _, record in chosen], query_expr)
    if not digest.count and fmt in ("table", "md"):
        return _nothing_yet(tag, [key for key, known in index.tags.items() if key and known.count])
    return _render(digest, chosen, fmt, colour)


def report(project_dir: Path, *, tag: str | None, fmt: str, last: int | None,
           status: str | None, query_expr: str | None, plot_path: Path | None,
           colour: bool) -> str:
    """The text of ``autoresearch results``: summary and table, a format, or a query.

    ``tag`` None means the newest tag in the log; ``last`` None or 0 means every row.
    Skipped log lines are counted on a line of their own: in the text for the table, on
    stderr for the other formats and queries, whose output stays parseable. Bad options
    raise ConfigError.
    """
    check_options(fmt, status, last)
    source = source_of(project_dir)
    index = load_index(source)
    tag = tag or index.latest_tag
    chosen = _read_chosen(source, index.tag(tag).select(status, last))
    text = _answer(index, tag, chosen, fmt=fmt, query_expr=query_expr, colour=colour)
    notes = [_skipped_note(index.skipped)] if index.skipped else []
    if plot_path is not None and index.tag(tag).count:
        _plot(source, index.tag(tag), plot_path)
        notes.append(f"plot written to {plot_path}")
    if fmt == "table" and query_expr is None:
        return "\n".join([text, *notes])
    if index.skipped:  # the plot note is left out: the file speaks for itself
        output.warn(notes[0])
    return text
