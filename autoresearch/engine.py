"""Experiments as cached doit tasks keyed by commit.

For a commit the graph is::

    run:<sha>:<i>  ->  parse:<sha>:<i>   (i = 1..repeats)
                   ->  measure:<sha>     target .autoresearch/runs/<sha>/metrics.json
                   ->  decide:<sha>      target .autoresearch/runs/<sha>/decision.json

Every task is up to date when its target file exists and records the same run
definition (and, for decide, the same best). The files on disk are the truth, not
doit's database (which is only written when a doit run ends, so a hard kill can lose
it): a killed loop that restarts finds finished measurements and runs nothing again.
A candidate whose target-file content and run definition were measured before, under
any commit, reuses that measurement (agents repeat themselves).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from doit.exceptions import TaskFailed

from autoresearch import decide, faults, metrics, output, runner
from autoresearch.config import Config, metric_spec
from autoresearch.errors import EnvironmentProblem
from autoresearch.git import Repo
from autoresearch.guard import hash_files

STATE_DIR = ".autoresearch"
MAX_LOG_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Measurement:
    """What one experiment produced, as recorded in metrics.json."""

    commit: str
    value: float | None
    samples: tuple[float, ...] = ()
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    peak_rss_mb: float = 0.0
    memory_gb: float = 0.0
    code_lines: int | None = None
    exit_code: int | None = None
    reused_from: str | None = None
    cached: bool = False  # True when this call ran nothing

    @classmethod
    def from_file(cls, path: Path, *, cached: bool) -> "Measurement":
        data = json.loads(path.read_text())
        fields = {k: data.get(k) for k in cls.__dataclass_fields__ if k in data}
        fields["samples"] = tuple(fields.get("samples") or ())
        fields["extra"] = fields.get("extra") or {}
        return cls(**{**fields, "cached": cached})


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temp name per thread: parallel workers may write the same content-index file.
    temp = path.with_suffix(f"{path.suffix}.{threading.get_ident()}.tmp")
    temp.write_text(json.dumps(data, indent=1, allow_nan=False, default=str))
    os.replace(temp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def policy(config: Config) -> decide.Policy:
    min_delta, relative = decide.parse_min_delta(config.min_delta)
    return decide.Policy(direction=config.metric_direction, min_delta=min_delta,
                         min_delta_relative=relative, aggregate=config.aggregate)


class Engine:
    """Measures commits of one project under one resolved config."""

    def __init__(self, config: Config, repo: Repo, *,
                 on_tick: Callable[[str, float, float], None] | None = None,
                 workdir: Path | None = None, env: dict[str, str] | None = None):
        self.config = config
        self.repo = repo
        self.root = config.project_dir
        self.state = self.root / STATE_DIR
        # Where runs, parses and checks happen: the project, or a parallel worker's work
        # tree (state and cache stay in the project); env is layered over the run's.
        self.workdir = workdir or self.root
        self.env = env
        self.dep_file = ("experiments.sqlite3" if workdir is None
                         else f"experiments-{workdir.name}.sqlite3")
        self.definition = config.run_definition_hash()
        self.spec = metric_spec(config)
        self.on_tick = on_tick

    # -- paths -------------------------------------------------------------
    def run_dir(self, sha: str) -> Path:
        return self.state / "runs" / sha

    def metrics_path(self, sha: str) -> Path:
        return self.run_dir(sha) / "metrics.json"

    def decision_path(self, sha: str) -> Path:
        return self.run_dir(sha) / "decision.json"

    def sample_dir(self, sha: str, index: int) -> Path:
        return self.run_dir(sha) / str(index)

    # -- cache checks (the files are the truth) ---------------------------
    def _matches(self, path: Path, **expected: Any) -> bool:
        data = read_json(path)
        return data is not None and all(data.get(k) == v for k, v in expected.items())

    def is_measured(self, sha: str) -> bool:
        return self._matches(self.metrics_path(sha), definition=self.definition)

    def content_key(self, sha: str) -> str:
        digest = hashlib.sha256(self.definition.encode())
        for path in sorted(self.config.targets + self.config.protected_files):
            content = self.repo.file_at(sha, path)
            digest.update(path.encode() + b"\0" + (content or b"<missing>") + b"\0")
        return digest.hexdigest()[:24]

    def _content_index(self, key: str) -> Path:
        return self.state / "content" / f"{key}.json"

    def reusable(self, sha: str) -> str | None:
        """The commit whose measurement of the same content this one can reuse."""
        entry = read_json(self._content_index(self.content_key(sha)))
        other = entry.get("commit") if entry else None
        if other and other != sha and self.is_measured(other):
            return other
        return None

    # -- the graph ---------------------------------------------------------
    def tasks(self, sha: str, best: decide.Best | None, best_commit: str | None) -> list[dict]:
        repeats = self.config.repeats
        measured = self.is_measured(sha)
        reuse = None if measured else self.reusable(sha)
        skip_runs = reuse is not None or measured
        tasks: list[dict] = []
        # doit runs a task whose target file is missing whatever its uptodate says, so a
        # measured or reused commit (no run.json of its own) gets no run/parse tasks at all.
        for index in range(1, 0 if skip_runs else repeats + 1):
            sample = self.sample_dir(sha, index)
            tasks.append({
                "name": f"run:{sha[:12]}:{index}",
                "actions": [(self._run_sample, (sha, index))],
                "targets": [str(sample / "run.json")],
                "uptodate": [lambda s=sample: skip_runs or self._matches(
                    s / "run.json", definition=self.definition)],
            })
            tasks.append({
                "name": f"parse:{sha[:12]}:{index}",
                "actions": [(self._parse_sample, (sha, index))],
                "task_dep": [f"run:{sha[:12]}:{index}"],
                "targets": [str(sample / "metric.json")],
                "uptodate": [lambda s=sample: skip_runs or self._matches(
                    s / "metric.json", definition=self.definition,
                    run_id=(read_json(s / "run.json") or {}).get("run_id"))],
            })
        tasks.append({
            "name": f"measure:{sha[:12]}",
            "actions": [(self._aggregate, (sha, reuse))],
            "task_dep": [] if skip_runs else [f"parse:{sha[:12]}:{i}"
                                              for i in range(1, repeats + 1)],
            "targets": [str(self.metrics_path(sha))],
            "uptodate": [lambda: self.is_measured(sha)],
        })
        best_key = self._best_key(best, best_commit)
        tasks.append({
            "name": f"decide:{sha[:12]}",
            "actions": [(self._decide, (sha, best, best_key))],
            "task_dep": [f"measure:{sha[:12]}"],
            "targets": [str(self.decision_path(sha))],
            "uptodate": [lambda: self._matches(self.decision_path(sha), best_key=best_key)],
        })
        return tasks

    def _best_key(self, best: decide.Best | None, best_commit: str | None) -> str:
        text = json.dumps([asdict(best) if best else None, best_commit, asdict(policy(self.config)),
                           self.config.check_command, self.definition], default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- actions -------------------------------------------------------------
    def _command(self, command: str) -> str:
        if self.config.runner:
            return f"{self.config.runner} /bin/sh -c {shlex.quote(command)}"
        return command

    def _run_sample(self, sha: str, index: int) -> None:
        sample = self.sample_dir(sha, index)
        log_path = sample / "run.log"
        protected = self.config.protected_files
        before = hash_files(self.workdir, protected)
        faults.point("run_start")
        tick = (lambda elapsed: self.on_tick("run", elapsed, self.config.timeout)) \
            if self.on_tick else None
        result = runner.run(self._command(self.config.run_command), cwd=self.workdir,
                            env=self.env,
                            timeout=self.config.timeout, stdout_path=log_path,
                            max_log_bytes=MAX_LOG_BYTES, on_tick=tick)
        tampered = sorted(p for p, h in hash_files(self.workdir, protected).items()
                          if before.get(p) != h)
        shutil.copyfile(log_path, self.workdir / "run.log")
        write_json(sample / "run.json", {
            "definition": self.definition, "run_id": os.urandom(6).hex(), "commit": sha,
            "exit_code": result.exit_code, "timed_out": result.timed_out,
            "duration_s": round(result.duration_s, 4), "peak_rss_mb": round(result.peak_rss_mb, 1),
            "log_truncated": result.log_truncated, "tampered": tampered,
        })

    def _parse_sample(self, sha: str, index: int) -> None:
        sample = self.sample_dir(sha, index)
        run = read_json(sample / "run.json") or {}
        error = _run_error(run, self.config.timeout)
        reading = metrics.read(self.spec, project_dir=self.workdir, log_path=sample / "run.log",
                               duration_s=run.get("duration_s", 0.0))
        log_text = (sample / "run.log").read_bytes().decode("utf-8", errors="replace")
        write_json(sample / "metric.json", {
            "definition": self.definition, "run_id": run.get("run_id"),
            "value": None if error else reading.value,
            "error": error or reading.error, "extra": reading.extra,
            "vram_gb": metrics.vram_gb(log_text),
        })

    def _aggregate(self, sha: str, reuse: str | None) -> None:
        if reuse:
            data = read_json(self.metrics_path(reuse)) or {}
            write_json(self.metrics_path(sha), {**data, "commit": sha, "reused_from": reuse})
            return
        runs = [read_json(self.sample_dir(sha, i) / "run.json") or {}
                for i in range(1, self.config.repeats + 1)]
        parsed = [read_json(self.sample_dir(sha, i) / "metric.json") or {}
                  for i in range(1, self.config.repeats + 1)]
        errors = [p.get("error") for p in parsed if p.get("value") is None]
        samples = [p["value"] for p in parsed if p.get("value") is not None]
        value = None if errors else decide.aggregate(samples, self.config.aggregate)
        peak = max((r.get("peak_rss_mb", 0.0) for r in runs), default=0.0)
        vram = [p["vram_gb"] for p in parsed if p.get("vram_gb") is not None]
        extra: dict[str, float] = {}
        for p in parsed:
            extra.update(p.get("extra") or {})
        target_text = "".join((self.repo.file_at(sha, t) or b"").decode("utf-8", "replace")
                              for t in self.config.targets)
        write_json(self.metrics_path(sha), {
            "definition": self.definition, "commit": sha, "value": value,
            "samples": samples, "error": errors[0] if errors else None, "extra": extra,
            "duration_s": round(sum(r.get("duration_s", 0.0) for r in runs), 4),
            "peak_rss_mb": peak,
            "memory_gb": round(max(vram) if vram else peak / 1024, 3),
            "exit_code": runs[-1].get("exit_code") if runs else None,
            "code_lines": decide.code_lines(target_text, self.config.targets[0]),
            "reused_from": None,
        })
        key = self.content_key(sha)
        write_json(self._content_index(key), {"commit": sha, "definition": self.definition})

    def _decide(self, sha: str, best: decide.Best | None, best_key: str) -> None:
        faults.point("before_decide")
        measured = Measurement.from_file(self.metrics_path(sha), cached=False)
        candidate = decide.Candidate(value=measured.value, samples=measured.samples,
                                     crash_reason=measured.error,
                                     code_lines=measured.code_lines)
        decision = decide.judge(candidate, best, policy(self.config))
        check_tail = None
        if decision.status == "keep" and self.config.check_command and best is not None:
            decision, check_tail = self._check(sha, decision)
        write_json(self.decision_path(sha), {"best_key": best_key, "status": decision.status,
                                             "reason": decision.reason, "check_tail": check_tail})

    def _check(self, sha: str, decision: decide.Decision):
        log_path = self.run_dir(sha) / "check.log"
        result = runner.run(self.config.check_command, cwd=self.workdir, env=self.env,
                            timeout=self.config.timeout, stdout_path=log_path)
        if result.exit_code == 0:
            return decision, None
        how = "timed out" if result.timed_out else f"exit {result.exit_code}"
        return decide.Decision("discard", f"check failed ({how})"), runner.tail(log_path, 2000)

    # -- running the graph -------------------------------------------------
    def evaluate(self, sha: str, best: decide.Best | None = None,
                 best_commit: str | None = None) -> tuple[Measurement, decide.Decision]:
        """Measure ``sha`` (checked out in the work tree) and judge it against ``best``."""
        was_measured = self.is_measured(sha)
        run_doit(self.state, self.tasks(sha, best, best_commit), self.dep_file)
        measurement = Measurement.from_file(self.metrics_path(sha), cached=was_measured)
        data = read_json(self.decision_path(sha)) or {}
        return measurement, decide.Decision(data.get("status", "crash"),
                                            data.get("reason", "no decision recorded"))

    def measure(self, sha: str) -> Measurement:
        """Only the measurement, without a decision."""
        was_measured = self.is_measured(sha)
        tasks = [t for t in self.tasks(sha, None, None) if not t["name"].startswith("decide:")]
        run_doit(self.state, tasks, self.dep_file)
        return Measurement.from_file(self.metrics_path(sha), cached=was_measured)


def _run_error(run: dict[str, Any], timeout: float) -> str | None:
    if run.get("tampered"):
        return f"tampered: the run modified {', '.join(run['tampered'])}"
    if run.get("timed_out"):
        return f"timeout: killed after {timeout:g} s"
    if run.get("exit_code") not in (0, None):
        return f"exit code {run['exit_code']}"
    return None


class _Silent:
    """A doit reporter that says nothing: run_doit re-raises what failed."""

    desc = "silent"

    def __init__(self, outstream, options):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _capturing(function: Callable[..., None], errors: list[Exception]) -> Callable[..., Any]:
    def action(*args: Any):
        try:
            function(*args)
        except Exception as exc:  # re-raised by run_doit with its traceback
            errors.append(exc)
            return TaskFailed(str(exc))
        return None

    return action


def run_doit(state: Path, tasks: list[dict], dep_file: str = "experiments.sqlite3") -> None:
    """Execute ``tasks`` with doit (its own database ``dep_file``, separate from the CLI's).

    doit's runner is driven directly, as ``doit run`` drives it, without ``DoitMain``:
    that one scans every installed distribution's entry points three times and reads
    the project's pyproject.toml, on every experiment (docs/performance.md). Same tasks,
    same uptodate checks, same database. An exception in a step is re-raised here; an
    interrupt (BaseException) passes straight through doit.
    """
    from doit.control import TaskControl
    from doit.dependency import Dependency, SqliteDB
    from doit.exceptions import InvalidCommand, InvalidTask
    from doit.runner import Runner
    from doit.task import Stream, dict_to_task

    state.mkdir(parents=True, exist_ok=True)
    errors: list[Exception] = []
    try:
        # io capture off: doit would swap sys.stdout for every action, which is not
        # thread-safe (parallel workers run experiments at the same time).
        prepared = [dict_to_task({**task, "io": {"capture": False},
                                  "actions": [(_capturing(fn, errors), args)
                                              for fn, args in task["actions"]]})
                    for task in tasks]
        control = TaskControl(prepared)
        control.process([task.name for task in prepared])
    except (InvalidCommand, InvalidTask) as exc:
        raise RuntimeError(f"doit could not run the experiment steps: {exc}") from None
    dependencies = Dependency(SqliteDB, str(state / dep_file))
    runner = Runner(dependencies, _Silent(None, {}), stream=Stream(0))
    code = runner.run_all(control.task_dispatcher())
    if errors:
        raise errors[0]
    if code != 0:
        raise RuntimeError(f"doit could not run the experiment steps (exit code {code})")


def measure_command(project: Path, flags: dict[str, Any], commits: list[str]) -> None:
    """``autoresearch measure [COMMIT...]``: measure each commit, running only what is missing."""
    from autoresearch.config import resolve
    from autoresearch.git import open_repo

    config = resolve(project, flags)
    with open_repo(project) as repo:
        engine = Engine(config, repo)
        for rev in commits:
            sha = repo.resolve(rev)
            measured = engine.measure(sha) if engine.is_measured(sha) else _measure_at(
                engine, repo, sha)
            output.result(describe_measurement(config, measured))


def _measure_at(engine: Engine, repo: Repo, sha: str) -> Measurement:
    """Measure a commit that may not be checked out: check it out, measure, go back."""
    head = repo.head_sha()
    dirty = repo.dirty_tracked()
    if dirty:  # the run would measure the work tree, and cache it as the commit's result
        what = f"measure {sha[:7]}" if sha == head else f"check out {sha[:7]} to measure it"
        raise EnvironmentProblem(f"cannot {what}: uncommitted changes in "
                                 f"{', '.join(dirty[:5])}; commit or stash them")
    if sha == head:
        return engine.measure(sha)
    branch = repo.current_branch()
    repo.checkout(sha)
    try:
        return engine.measure(sha)
    finally:
        repo.checkout(branch or head)


def describe_measurement(config: Config, m: Measurement) -> str:
    how = "cached, ran nothing" if m.cached else (
        f"reused from {m.reused_from[:7]}" if m.reused_from else f"ran in {m.duration_s:.2f} s")
    if m.value is None:
        return f"{m.commit[:7]}  {config.metric_name} crash: {m.error}  ({how})"
    return f"{m.commit[:7]}  {config.metric_name} {m.value:.6f}  ({how})"
