"""Tests for autoresearch.metrics: every source, good and bad, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoresearch import metrics
from autoresearch.errors import ConfigError
from autoresearch.metrics import MetricReading, MetricSpec


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with an empty run.log."""
    (tmp_path / "run.log").write_text("")
    return tmp_path


def read(
    project: Path, spec: MetricSpec, log: str | bytes | None = None, **kwargs
) -> MetricReading:
    """Read ``spec`` after writing ``log`` to project/run.log (None: leave it as is)."""
    log_path = project / "run.log"
    if log is not None:
        log_path.write_bytes(log.encode() if isinstance(log, str) else log)
    kwargs.setdefault("duration_s", 12.5)
    return metrics.read(spec, project_dir=project, log_path=log_path, **kwargs)


def command(cmd: str) -> MetricSpec:
    return MetricSpec(name="val_bpb", source="command", command=cmd)


# --- command ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("0.95", 0.95),
        ("accuracy: 0.95", 0.95),
        ("-3", -3.0),
        ("1e308", 1e308),
        ("1.5E-4", 1.5e-4),
        ("+.5", 0.5),
        ("step 10 loss 2.5\nstep 20 loss 1.25", 1.25),
        ("val 0.9 done.", 0.9),
        ("epoch_3 4", 4.0),
    ],
)
def test_command_takes_the_last_number_printed(project, output, expected):
    reading = read(project, command(f"printf '%s\\n' '{output}'"))
    assert reading == MetricReading(value=expected, extra={}, error=None)


def test_command_runs_in_the_project_directory_and_sees_run_log(project):
    spec = command("grep 'accuracy:' run.log | tail -1 | awk '{print $2}'")
    reading = read(project, spec, "accuracy: 0.5\naccuracy: 0.75\nfinal\n")
    assert reading.value == 0.75


@pytest.mark.parametrize(
    ("cmd", "error"),
    [
        ("true", "metric_parse printed no number"),
        ("echo abc", "metric_parse printed no number (it printed 'abc')"),
        ("echo info version", "metric_parse printed no number (it printed 'info version')"),
        ("echo boom >&2; exit 2", "metric_parse exited with 2 and printed no number: boom"),
        ("echo nan", "val_bpb is NaN"),
        ("echo 'loss: -inf'", "val_bpb is infinite (-inf)"),
        ("echo 1e999", "val_bpb is infinite (1e999)"),
    ],
)
def test_command_without_a_usable_number_is_an_error(project, cmd, error):
    reading = read(project, command(cmd))
    assert reading.value is None
    assert reading.error == error


def test_command_with_a_number_counts_despite_a_failing_exit(project):
    assert read(project, command("echo 0.5; exit 1")).value == 0.5


def test_command_that_hangs_is_timed_out(project):
    reading = read(project, command("sleep 30"), timeout=0.5)
    assert reading.value is None
    assert reading.error == "metric_parse timed out after 0.5 s"


# --- regex -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("val_bpb: 0.99\n", 0.99),
        ("---\nval_bpb:          0.997900\ntraining_seconds: 300.1\n", 0.9979),
        ("  val_bpb = 1.5e-3\n", 1.5e-3),
        ("val_bpb: 1.2\nval_bpb: 1.1\n", 1.1),
        ("val_bpb: -2\n", -2.0),
    ],
)
def test_default_regex_reads_name_colon_number(project, log, expected):
    assert read(project, MetricSpec(name="val_bpb", source="regex"), log).value == expected


def test_default_regex_escapes_the_name(project):
    spec = MetricSpec(name="a.b+c", source="regex")
    assert read(project, spec, "aXb+c: 1\na.b+c: 2\naXbbc: 3\n").value == 2.0


def test_custom_regex_last_match_wins(project):
    spec = MetricSpec(name="acc", source="regex", regex=r"accuracy=(\S+)%")
    assert read(project, spec, "accuracy=50%\naccuracy=75.5%\n").value == 75.5


def test_regex_reads_a_log_with_invalid_utf8(project):
    log = b"\xff\xfe garbage\nval_bpb: 0.5\n\x80\n"
    assert read(project, MetricSpec(name="val_bpb", source="regex"), log).value == 0.5


@pytest.mark.parametrize(
    ("log", "error"),
    [
        ("", "no line of the run log matches metric_regex"),
        ("my_val_bpb: 0.5\n", "no line of the run log matches metric_regex"),
        ("val_bpb: nan\n", "val_bpb is NaN"),
        ("val_bpb: NaN\n", "val_bpb is NaN"),
        ("val_bpb: inf\n", "val_bpb is infinite (inf)"),
    ],
)
def test_default_regex_errors(project, log, error):
    reading = read(project, MetricSpec(name="val_bpb", source="regex"), log)
    assert reading.value is None
    assert reading.error.startswith(error)


def test_custom_regex_capturing_a_non_number_is_an_error(project):
    spec = MetricSpec(name="acc", source="regex", regex=r"acc: (\w+)")
    reading = read(project, spec, "acc: high\n")
    assert reading == MetricReading(value=None, extra={}, error="acc is 'high', not a number")


def test_regex_without_a_run_log_is_an_error(project):
    (project / "run.log").unlink()
    reading = read(project, MetricSpec(name="val_bpb", source="regex"))
    assert reading.error == f"the run log {project / 'run.log'} is missing"


# --- lines -----------------------------------------------------------------------------


def test_metric_lines_give_the_value_and_all_extras(project):
    log = "METRIC val_loss=1.5\nnoise\nMETRIC tokens_per_s=1200\n  METRIC val_loss=1.23  \n"
    reading = read(project, MetricSpec(name="val_loss", source="lines"), log)
    assert reading == MetricReading(
        value=1.23, extra={"val_loss": 1.23, "tokens_per_s": 1200.0}, error=None
    )


@pytest.mark.parametrize(
    ("log", "error"),
    [
        ("METRIC other=1\n", "the run log has no line 'METRIC val_loss=<number>'"),
        ("val_loss=1\n", "the run log has no line 'METRIC val_loss=<number>'"),
        ("METRIC val_loss=nan\n", "val_loss is NaN"),
        ("METRIC val_loss=abc\n", "val_loss is 'abc', not a number"),
        ("METRIC val_loss=1\nMETRIC val_loss=-inf\n", "val_loss is infinite (-inf)"),
    ],
)
def test_metric_lines_errors(project, log, error):
    reading = read(project, MetricSpec(name="val_loss", source="lines"), log)
    assert reading.value is None
    assert reading.error == error


def test_metric_lines_keep_only_finite_extras(project):
    log = "METRIC val_loss=2\nMETRIC bad=nan\nMETRIC word=abc\n"
    reading = read(project, MetricSpec(name="val_loss", source="lines"), log)
    assert reading.extra == {"val_loss": 2.0}


# --- json ------------------------------------------------------------------------------


def json_spec(expression: str = "eval.loss") -> MetricSpec:
    return MetricSpec(name="loss", source="json", file="out/metrics.json", jmespath=expression)


def write_json(project: Path, text: str) -> None:
    (project / "out").mkdir(exist_ok=True)
    (project / "out" / "metrics.json").write_text(text)


@pytest.mark.parametrize(
    ("document", "expression", "expected"),
    [
        ({"eval": {"loss": 0.25}}, "eval.loss", 0.25),
        ({"eval": {"loss": 3}}, "eval.loss", 3.0),
        ({"runs": [{"acc": 0.1}, {"acc": 0.9}]}, "runs[-1].acc", 0.9),
        ({"runs": [1, 5, 2]}, "max(runs)", 5.0),
        ({"eval": {"loss": "0.5"}}, "eval.loss", 0.5),
        ({"eval": {"loss": 1e308}}, "eval.loss", 1e308),
    ],
)
def test_json_value(project, document, expression, expected):
    write_json(project, json.dumps(document))
    assert read(project, json_spec(expression)).value == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, "metric_file out/metrics.json does not exist"),
        ("{not json", "metric_file out/metrics.json is not valid JSON: "),
        ('{"eval": {}}', "metric_jmespath 'eval.loss' found nothing in out/metrics.json"),
        ('{"eval": {"loss": true}}', "loss is true, not a number"),
        ('{"eval": {"loss": [1]}}', "loss is [1], not a number"),
        ('{"eval": {"loss": "high"}}', "loss is 'high', not a number"),
        ('{"eval": {"loss": NaN}}', "loss is NaN"),
        ('{"eval": {"loss": Infinity}}', "loss is infinite (inf)"),
    ],
)
def test_json_errors(project, text, error):
    if text is not None:
        write_json(project, text)
    reading = read(project, json_spec())
    assert reading.value is None
    assert reading.error.startswith(error)


def test_json_expression_failing_at_runtime_is_an_error(project):
    write_json(project, '{"eval": {"loss": "x"}}')
    reading = read(project, json_spec("abs(eval.loss)"))
    assert reading.value is None
    assert reading.error.startswith("metric_jmespath 'abs(eval.loss)' failed on out/metrics.json")


# --- size ------------------------------------------------------------------------------


@pytest.fixture
def dist(project: Path) -> Path:
    """project/dist with 1024 + 2048 bytes in files, one of them in a subdirectory."""
    (project / "dist" / "assets").mkdir(parents=True)
    (project / "dist" / "app.js").write_bytes(b"a" * 1024)
    (project / "dist" / "assets" / "app.css").write_bytes(b"c" * 2048)
    return project


@pytest.mark.parametrize(
    ("file", "unit", "expected"),
    [
        ("dist", None, 3.0),
        ("dist/**", "B", 3072.0),
        ("dist/*.js", "B", 1024.0),
        ("dist/**/*.css, dist/app.js", "KB", 3.0),
        ("dist/app.js,dist/app.js", "B", 1024.0),
        ("dist", "MB", 3072 / 1024**2),
        ("dist", "GB", 3072 / 1024**3),
    ],
)
def test_size_sums_matched_files(dist, file, unit, expected):
    spec = MetricSpec(name="bundle", source="size", file=file, unit=unit)
    assert read(dist, spec).value == pytest.approx(expected)


@pytest.mark.parametrize("file", ["build/**", "missing.txt, out"])
def test_size_of_a_missing_path_is_an_error(dist, file):
    reading = read(dist, MetricSpec(name="bundle", source="size", file=file))
    assert reading.value is None
    assert reading.error == f"no file matches {file.replace(' ', '')}".replace(",", ", ")


def test_size_skips_patterns_the_build_did_not_produce(dist):
    """A web recipe lists dist,build,out: whichever exists is measured."""
    both = read(dist, MetricSpec(name="bundle", source="size", file="build,dist,out", unit="B"))
    only = read(dist, MetricSpec(name="bundle", source="size", file="dist", unit="B"))
    assert both.error is None and both.value == only.value > 0


# --- time ------------------------------------------------------------------------------


def test_time_is_the_run_duration(project):
    assert read(project, MetricSpec(name="seconds", source="time"), duration_s=42.5).value == 42.5


# --- peak VRAM -------------------------------------------------------------------------


def test_peak_vram_from_the_log_is_recorded_for_every_source(project):
    log = "peak_vram_mb: 1000\nval_bpb: 0.9\npeak_vram_mb: 2048.0\n"
    reading = read(project, MetricSpec(name="val_bpb", source="regex"), log)
    assert reading.extra == {"peak_vram_mb": 2048.0}
    time_reading = read(project, MetricSpec(name="s", source="time"))
    assert time_reading.extra == {"peak_vram_mb": 2048.0}


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("peak_vram_mb: 2048\n", 2.0),
        ("peak_vram_mb: 512\npeak_vram_mb: 45060.2\n", 45060.2 / 1024),
        ("no memory line\n", None),
        ("peak_vram_mb: nan\n", None),
    ],
)
def test_vram_gb(log, expected):
    assert metrics.vram_gb(log) == (pytest.approx(expected) if expected else None)


# --- validate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"source": "grep"},
            "metric_source: 'grep' is not a metric source; "
            "use one of command, regex, lines, json, size, time, emitted",
        ),
        (
            {"source": "size", "file": "d", "unit": "kb"},
            "metric_unit: 'kb' is not a unit; use one of B, KB, MB, GB",
        ),
        (
            {"source": "command"},
            "metric_parse: missing; metric_source 'command' needs a shell command",
        ),
        ({"source": "command", "command": "  "}, "metric_parse: missing"),
        (
            {"source": "regex", "regex": "val: ("},
            "metric_regex: 'val: (' is not a valid regular expression "
            "(missing ), unterminated subpattern at position 5)",
        ),
        (
            {"source": "regex", "regex": r"val: \d+"},
            "metric_regex: 'val: \\\\d+' has 0 capture groups; it needs exactly one",
        ),
        (
            {"source": "regex", "regex": r"(\w+): (\d+)"},
            "metric_regex: '(\\\\w+): (\\\\d+)' has 2 capture groups; it needs exactly one",
        ),
        ({"name": "", "source": "regex"}, "metric_name: missing"),
        ({"name": "", "source": "lines"}, "metric_name: missing"),
        (
            {"source": "json", "jmespath": "a"},
            "metric_file: missing; metric_source 'json' needs the path of a JSON file",
        ),
        ({"source": "json", "file": "m.json"}, "metric_jmespath: missing; metric_source 'json'"),
        (
            {"source": "json", "file": "m.json", "jmespath": "a..b"},
            "metric_jmespath: 'a..b' is not a valid JMESPath expression (Expecting",
        ),
        (
            {"source": "json", "file": "m.json", "jmespath": "a["},
            "metric_jmespath: 'a[' is not a valid JMESPath expression "
            "(Invalid jmespath expression: Incomplete expression at column 2)",
        ),
        (
            {"source": "size"},
            "metric_file: missing; metric_source 'size' needs a path or glob",
        ),
    ],
)
def test_validate_rejects_bad_specs_naming_the_key(fields, message):
    spec = MetricSpec(**{"name": "x", **fields})
    with pytest.raises(ConfigError) as caught:
        metrics.validate(spec)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_validate_reports_the_jmespath_column():
    spec = MetricSpec(name="x", source="json", file="m.json", jmespath="a..b")
    with pytest.raises(ConfigError, match="column 2"):
        metrics.validate(spec)


@pytest.mark.parametrize(
    "spec",
    [
        MetricSpec(name="val_bpb", source="command", command="echo 1"),
        MetricSpec(name="val_bpb", source="regex"),
        MetricSpec(name="a.b+c", source="regex"),  # names are escaped into the default regex
        MetricSpec(name="acc", source="regex", regex=r"acc(?:uracy)?: (\S+)"),
        MetricSpec(name="loss", source="lines"),
        MetricSpec(name="loss", source="json", file="m.json", jmespath="runs[-1].loss"),
        MetricSpec(name="kb", source="size", file="dist/**", unit="MB"),
        MetricSpec(name="s", source="time"),
    ],
)
def test_validate_accepts_good_specs(spec):
    metrics.validate(spec)  # must not raise


def test_read_raises_config_error_for_an_invalid_spec(project):
    with pytest.raises(ConfigError, match="^metric_regex: "):
        read(project, MetricSpec(name="x", source="regex", regex="("))


# --- emitted (what the run wrote: not tracked by git) ------------------------------------


def emitted_spec(**fields) -> MetricSpec:
    return MetricSpec(**{"name": "bundle", "source": "emitted", "file": "dist,build", "unit": "B",
                         **fields})


def test_emitted_counts_untracked_files_and_records_them(dist):
    reading = read(dist, emitted_spec(), tracked={"dist/app.js"})
    assert reading.value == 2048.0 and reading.error is None
    assert [(o.path, o.size, o.raw_size) for o in reading.outputs] == [
        ("dist/assets/app.css", 2048, 2048)]


def test_emitted_compresses_file_by_file_and_skips_excluded_files(dist):
    (dist / "dist" / "app.js.map").write_bytes(b"m" * 4096)
    reading = read(dist, emitted_spec(compression="gzip", exclude=("*.map",)), tracked=set())
    assert [o.path for o in reading.outputs] == ["dist/app.js", "dist/assets/app.css"]
    assert all(o.size < o.raw_size for o in reading.outputs)
    assert reading.value == sum(o.size for o in reading.outputs)


def test_emitted_without_an_untracked_file_is_an_error(dist):
    reading = read(dist, emitted_spec(), tracked={"dist/app.js", "dist/assets/app.css"})
    assert reading == MetricReading(value=None, extra={}, error=(
        "the run emitted no file under dist, build (files tracked by git are not output)"))
    only_maps = read(dist, emitted_spec(exclude=("*.js", "*.css")), tracked=set())
    assert only_maps.error == ("every file under dist, build is excluded by metric_exclude "
                               "(*.js, *.css): dist/app.js, dist/assets/app.css")


def test_emitted_asks_git_what_is_tracked_when_not_told(dist, git_identity, git):
    git(dist, "init", "--quiet")
    git(dist, "add", "dist/app.js")
    reading = read(dist, emitted_spec())
    assert [o.path for o in reading.outputs] == ["dist/assets/app.css"]


def test_size_counts_tracked_files_too_and_can_compress(dist):
    reading = read(dist, MetricSpec(name="b", source="size", file="dist", unit="B",
                                    compression="gzip"))
    assert [o.path for o in reading.outputs] == ["dist/app.js", "dist/assets/app.css"]
    assert reading.value < 3072


def test_validate_rejects_an_unknown_compression():
    with pytest.raises(ConfigError, match="^size_compression: 'zip' is not a compression; use "
                                          "one of none, gzip, brotli$"):
        metrics.validate(MetricSpec(name="b", source="size", file="d", compression="zip"))
