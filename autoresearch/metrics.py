"""Read an experiment's metric after its run.

A metric comes from one source: a shell command (the last number it prints), a regular
expression over the run log, ``METRIC name=value`` log lines, a JSON file and a JMESPath
expression, the size of built files, the size of the files the run emitted (not tracked by
git), or the run's wall time. A bad run output never raises:
it gives a reading without a value and a one-line reason, which the loop records as a crash.
Only an invalid metric definition raises ``ConfigError``.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import jmespath
import jmespath.exceptions

from autoresearch import compression, emitted, git, runner
from autoresearch.emitted import Output
from autoresearch.errors import ConfigError

SOURCES: tuple[str, ...] = ("command", "regex", "lines", "json", "size", "time", "emitted")
UNITS: dict[str, int] = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
DEFAULT_UNIT = "KB"

# A number as experiments print it: 3, -0.5, .5, 1e-4, 1E+10, and nan/inf so they can be
# reported as such instead of as "no number".
NUMBER = r"[-+]?(?i:(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|nan|inf(?:inity)?)"
_STANDALONE_NUMBER = re.compile(rf"(?<![\w.]){NUMBER}(?!\w)")
_METRIC_LINE = re.compile(r"^\s*METRIC\s+([^\s=]+)\s*=\s*(\S+)\s*$", re.MULTILINE)
_PEAK_VRAM = re.compile(rf"^\s*peak_vram_mb\s*[:=]\s*({NUMBER})", re.MULTILINE)
_PARSE_OUTPUT_BYTES = 1024 * 1024

Outcome = tuple[object, str | None]  # a raw value to check, or why there is none


@dataclass(frozen=True)
class MetricSpec:
    """How to read one metric; which fields matter depends on ``source``."""

    name: str  # e.g. "val_bpb"
    source: str  # one of SOURCES
    command: str | None = None  # source=command: shell command printing the value last
    regex: str | None = None  # source=regex: one capture group; default built from name
    file: str | None = None  # source=json: a JSON file; size/emitted: paths/globs, comma-separated
    jmespath: str | None = None  # source=json: expression giving a number
    unit: str | None = None  # size/emitted: B, KB, MB or GB (1024-based); default KB
    exclude: tuple[str, ...] = ()  # size/emitted: globs of files never counted (*.map)
    compression: str = "none"  # size/emitted: none, gzip or brotli, file by file


@dataclass(frozen=True)
class MetricReading:
    """A metric value, or None with the reason (the experiment is then a crash)."""

    value: float | None
    extra: dict[str, float] = field(default_factory=dict)  # other metrics seen in the run
    error: str | None = None
    outputs: tuple[Output, ...] = ()  # size/emitted: the files counted, with their sizes


def validate(spec: MetricSpec) -> None:
    """Raise ConfigError, naming the key and the accepted values, if ``spec`` cannot work."""
    if spec.source not in SOURCES:
        raise ConfigError(
            f"metric_source: {spec.source!r} is not a metric source; "
            f"use one of {', '.join(SOURCES)}"
        )
    if spec.compression not in compression.METHODS:
        raise ConfigError(
            f"size_compression: {spec.compression!r} is not a compression; "
            f"use one of {', '.join(compression.METHODS)}"
        )
    if spec.unit is not None and spec.unit not in UNITS:
        raise ConfigError(
            f"metric_unit: {spec.unit!r} is not a unit; use one of {', '.join(UNITS)}"
        )
    if spec.source in ("regex", "lines") and not spec.name:
        raise ConfigError(
            f"metric_name: missing; metric_source {spec.source!r} needs the metric name"
        )
    if spec.source == "command":
        _require(spec.command, "metric_parse", "command", "a shell command that prints the metric")
    elif spec.source == "regex":
        _regex(spec)
    elif spec.source == "json":
        _require(spec.file, "metric_file", "json", "the path of a JSON file")
        _require(spec.jmespath, "metric_jmespath", "json", "an expression such as 'eval.loss'")
        _jmespath(spec.jmespath)
    elif spec.source in ("size", "emitted"):
        _require(spec.file, "metric_file", spec.source, "a path or glob such as 'dist/**'")


def _require(value: str | None, key: str, source: str, what: str) -> None:
    if not value or not value.strip():
        raise ConfigError(f"{key}: missing; metric_source {source!r} needs {what}")


def default_regex(name: str) -> str:
    """The regex used when none is configured: ``name: number`` at the start of a line."""
    return rf"^\s*{re.escape(name)}\s*[:=]\s*({NUMBER})"


def _regex(spec: MetricSpec) -> re.Pattern[str]:
    """The compiled metric regex: the user's, or ``name: number`` at the start of a line."""
    pattern = spec.regex or default_regex(spec.name)
    try:
        compiled = re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise ConfigError(
            f"metric_regex: {pattern!r} is not a valid regular expression ({exc}); "
            "write a Python regex with one group around the number"
        ) from exc
    if compiled.groups != 1:
        raise ConfigError(
            f"metric_regex: {pattern!r} has {compiled.groups} capture groups; "
            "it needs exactly one, around the number (use (?:...) for the others)"
        )
    return compiled


def _jmespath(expression: str) -> jmespath.parser.ParsedResult:
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ConfigError(
            f"metric_jmespath: {expression!r} is not a valid JMESPath expression "
            f"({_parse_problem(exc)}); write one such as 'eval.loss' or 'results[-1].accuracy'"
        ) from exc


def _parse_problem(exc: jmespath.exceptions.JMESPathError) -> str:
    """jmespath's multi-line message cut to its first line, with the error's column."""
    problem = str(exc).splitlines()[0].rstrip(":").removesuffix(", for expression")
    position = getattr(exc, "lex_position", None)
    if position is not None and "column" not in problem:
        problem += f" at column {position}"
    return problem


def read(
    spec: MetricSpec, *, project_dir: Path, log_path: Path, duration_s: float, timeout: float = 60,
    tracked: Collection[str] | None = None, seal: Callable[[str], str] | None = None,
) -> MetricReading:
    """Read ``spec``'s metric for a finished run whose output is in ``log_path``.

    ``timeout`` bounds the ``command`` source. ``tracked`` (paths relative to
    ``project_dir``) are the files git tracks there, never counted by ``emitted``; None asks
    git. Raises ConfigError only for an invalid spec.
    """
    validate(spec)
    log_text = _read_log(log_path)
    extra = _vram_extra(log_text or "")
    if spec.source in ("size", "emitted"):
        if spec.source == "emitted" and tracked is None:
            tracked = git.tracked_files(project_dir) or frozenset()
        outputs, error = _sizes(spec, project_dir, tracked if spec.source == "emitted" else ())
        value = sum(o.size for o in outputs) / UNITS[spec.unit or DEFAULT_UNIT] if outputs else None
        return MetricReading(value=value, extra=extra, error=error, outputs=tuple(outputs))
    if spec.source == "command":
        value, error = _from_command(spec, project_dir, timeout, seal)
    elif spec.source == "regex":
        value, error = _from_regex(spec, log_text, log_path)
    elif spec.source == "lines":
        value, error = _from_lines(spec, log_text, log_path, extra)
    elif spec.source == "json":
        value, error = _from_json(spec, project_dir)
    else:
        value, error = duration_s, None
    if error is None:
        value, error = _checked(spec.name, value)
    return MetricReading(value=value, extra=extra, error=_one_line(error) if error else None)


def _read_log(path: Path) -> str | None:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:
        return None


def _vram_extra(log_text: str) -> dict[str, float]:
    matches = _PEAK_VRAM.findall(log_text)
    value = float(matches[-1]) if matches else math.nan
    return {"peak_vram_mb": value} if math.isfinite(value) else {}


def vram_gb(log_text: str) -> float | None:
    """Peak VRAM in GiB from the last ``peak_vram_mb: N`` line of a log, None when absent."""
    megabytes = _vram_extra(log_text).get("peak_vram_mb")
    return None if megabytes is None else megabytes / 1024


def _from_command(spec: MetricSpec, project_dir: Path, timeout: float,
                  seal: Callable[[str], str] | None = None) -> Outcome:
    """The last number the shell command prints on stdout, run in the project directory
    (through ``seal`` when the run is sealed: the command may run the candidate's code)."""
    command: str = spec.command  # type: ignore[assignment]  # validate() checked it
    with tempfile.TemporaryDirectory(prefix="autoresearch-metric-") as tmp:
        out, err = Path(tmp, "out"), Path(tmp, "err")
        result = runner.run(
            seal(command) if seal else command,
            cwd=project_dir,
            timeout=timeout,
            stdout_path=out,
            stderr_path=err,
            max_log_bytes=_PARSE_OUTPUT_BYTES,
            grace_s=1.0,
        )
        printed = runner.tail(out, _PARSE_OUTPUT_BYTES)
        complaint = runner.tail(err, 300).strip()
    if result.timed_out:
        return None, f"metric_parse timed out after {timeout:g} s"
    numbers = _STANDALONE_NUMBER.findall(printed)
    if numbers:
        return numbers[-1], None
    if result.exit_code != 0:
        detail = f": {complaint.splitlines()[-1]}" if complaint else ""
        return None, f"metric_parse exited with {result.exit_code} and printed no number{detail}"
    shown = f" (it printed {printed.strip()[:80]!r})" if printed.strip() else ""
    return None, f"metric_parse printed no number{shown}"


def _from_regex(spec: MetricSpec, log_text: str | None, log_path: Path) -> Outcome:
    """The capture of the last match of the metric regex in the log."""
    if log_text is None:
        return None, f"the run log {log_path} is missing"
    regex = _regex(spec)
    matches = regex.findall(log_text)
    if not matches:
        return None, f"no line of the run log matches metric_regex {regex.pattern!r}"
    return matches[-1], None


def _from_lines(
    spec: MetricSpec, log_text: str | None, log_path: Path, extra: dict[str, float]
) -> Outcome:
    """``METRIC name=value`` lines: all finite ones go to ``extra``, the named one is the value."""
    if log_text is None:
        return None, f"the run log {log_path} is missing"
    found: dict[str, str] = {}
    for name, text in _METRIC_LINE.findall(log_text):
        found[name] = text  # the last occurrence wins
        number = _as_float(text)
        if number is not None and math.isfinite(number):
            extra[name] = number
    if spec.name not in found:
        return None, f"the run log has no line 'METRIC {spec.name}=<number>'"
    return found[spec.name], None


def _from_json(spec: MetricSpec, project_dir: Path) -> Outcome:
    """The number the JMESPath expression picks out of the JSON file."""
    path = project_dir / spec.file  # type: ignore[operator]  # validate() checked it
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, f"metric_file {spec.file} does not exist"
    except OSError as exc:
        return None, f"metric_file {spec.file} cannot be read: {exc.strerror}"
    except ValueError as exc:
        return None, f"metric_file {spec.file} is not valid JSON: {exc}"
    try:
        value = _jmespath(spec.jmespath).search(document)  # type: ignore[arg-type]
    except jmespath.exceptions.JMESPathError as exc:
        return None, f"metric_jmespath {spec.jmespath!r} failed on {spec.file}: {exc}"
    if value is None:
        return None, f"metric_jmespath {spec.jmespath!r} found nothing in {spec.file}"
    return value, None


def _sizes(spec: MetricSpec, project_dir: Path,
           tracked: Collection[str]) -> tuple[list[Output], str | None]:
    """The counted files under ``spec.file`` (its comma-separated paths, directories and
    globs: whichever exist) with their sizes, or why there are none."""
    patterns = [part.strip() for part in spec.file.split(",") if part.strip()]  # type: ignore[union-attr]
    found = emitted.files_under(project_dir, patterns)
    counted, excluded = emitted.select(found, tracked, spec.exclude)
    if counted:
        return emitted.measure(project_dir, counted, spec.compression), None
    where = ", ".join(patterns)
    if excluded:
        return [], (f"every file under {where} is excluded by metric_exclude "
                    f"({', '.join(spec.exclude)}): {', '.join(excluded[:3])}")
    if spec.source == "emitted":
        return [], f"the run emitted no file under {where} (files tracked by git are not output)"
    return [], f"no file matches {where}"


def _checked(name: str, raw: object) -> tuple[float | None, str | None]:
    """``raw`` as a finite float, or None and why it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None, f"{name} is {json.dumps(raw)[:80]}, not a number"
    number = _as_float(raw)
    if number is None:
        return None, f"{name} is {str(raw)[:80]!r}, not a number"
    if math.isnan(number):
        return None, f"{name} is NaN"
    if math.isinf(number):
        return None, f"{name} is infinite ({str(raw)[:40]})"
    return number, None


def _as_float(raw: int | float | str) -> float | None:
    try:
        return float(raw)
    except (ValueError, OverflowError):
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
