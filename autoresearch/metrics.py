"""Read an experiment's metric after its run.

A metric comes from one source: a shell command (the last number it prints), a regular
expression over the run log, ``METRIC name=value`` log lines, a JSON file and a JMESPath
expression, the size of built files, or the run's wall time. A bad run output never raises:
it gives a reading without a value and a one-line reason, which the loop records as a crash.
Only an invalid metric definition raises ``ConfigError``.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jmespath
import jmespath.exceptions

from autoresearch import runner
from autoresearch.errors import ConfigError

SOURCES: tuple[str, ...] = ("command", "regex", "lines", "json", "size", "time")
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
    file: str | None = None  # source=json: a JSON file; source=size: paths/globs, comma-separated
    jmespath: str | None = None  # source=json: expression giving a number
    unit: str | None = None  # source=size: B, KB, MB or GB (1024-based); default KB


@dataclass(frozen=True)
class MetricReading:
    """A metric value, or None with the reason (the experiment is then a crash)."""

    value: float | None
    extra: dict[str, float] = field(default_factory=dict)  # other metrics seen in the run
    error: str | None = None


def validate(spec: MetricSpec) -> None:
    """Raise ConfigError, naming the key and the accepted values, if ``spec`` cannot work."""
    if spec.source not in SOURCES:
        raise ConfigError(
            f"metric_source: {spec.source!r} is not a metric source; "
            f"use one of {', '.join(SOURCES)}"
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
    elif spec.source == "size":
        _require(spec.file, "metric_file", "size", "a path or glob such as 'dist/**'")


def _require(value: str | None, key: str, source: str, what: str) -> None:
    if not value or not value.strip():
        raise ConfigError(f"{key}: missing; metric_source {source!r} needs {what}")


def _regex(spec: MetricSpec) -> re.Pattern[str]:
    """The compiled metric regex: the user's, or ``name: number`` at the start of a line."""
    pattern = spec.regex or rf"^\s*{re.escape(spec.name)}\s*[:=]\s*({NUMBER})"
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
    spec: MetricSpec, *, project_dir: Path, log_path: Path, duration_s: float, timeout: float = 60
) -> MetricReading:
    """Read ``spec``'s metric for a finished run whose output is in ``log_path``.

    ``timeout`` bounds the ``command`` source. Raises ConfigError only for an invalid spec.
    """
    validate(spec)
    log_text = _read_log(log_path)
    extra = _vram_extra(log_text or "")
    if spec.source == "command":
        value, error = _from_command(spec, project_dir, timeout)
    elif spec.source == "regex":
        value, error = _from_regex(spec, log_text, log_path)
    elif spec.source == "lines":
        value, error = _from_lines(spec, log_text, log_path, extra)
    elif spec.source == "json":
        value, error = _from_json(spec, project_dir)
    elif spec.source == "size":
        value, error = _from_size(spec, project_dir)
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


def _from_command(spec: MetricSpec, project_dir: Path, timeout: float) -> Outcome:
    """The last number the shell command prints on stdout, run in the project directory."""
    with tempfile.TemporaryDirectory(prefix="autoresearch-metric-") as tmp:
        out, err = Path(tmp, "out"), Path(tmp, "err")
        result = runner.run(
            spec.command,  # type: ignore[arg-type]  # validate() checked it
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


def _from_size(spec: MetricSpec, project_dir: Path) -> Outcome:
    """Total size of the matched files (directories counted recursively), in the unit.

    Patterns that match nothing are skipped (``dist,build,out`` means whichever the
    build produced); it is an error only when no pattern matches anything.
    """
    files: set[str] = set()
    patterns = [part.strip() for part in spec.file.split(",") if part.strip()]  # type: ignore[union-attr]
    for pattern in patterns:
        for match in _glob(project_dir, pattern):
            files.update(_files_under(project_dir / match))
    if not files:
        return None, f"no file matches {', '.join(patterns)}"
    total = sum(os.path.getsize(path) for path in files)
    return total / UNITS[spec.unit or DEFAULT_UNIT], None


def _glob(project_dir: Path, pattern: str) -> list[str]:
    """Paths matching ``pattern`` relative to ``project_dir``, hidden files included."""
    found = glob.glob(pattern, root_dir=project_dir, recursive=True, include_hidden=True)
    # Python 3.11 yields "build/" for "build/**" even when there is no build directory.
    return [match for match in found if os.path.lexists(project_dir / match)]


def _files_under(path: Path) -> set[str]:
    """``path`` itself if it is a file, else every file below it (symlinks not followed)."""
    if not path.is_dir():
        return {os.path.realpath(path)} if path.is_file() else set()
    return {
        os.path.realpath(os.path.join(root, name))
        for root, _dirs, names in os.walk(path)
        for name in names
        if os.path.isfile(os.path.join(root, name))
    }


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
