"""Measuring commits: each measured commit is the doit task ``experiment:<sha>``.

The task's target is the commit's metrics file (``Layout.run_dir(sha)/metrics.json``) and
its up-to-date check is doit's own ``config_changed`` over the run definition (run command,
metric definition, repeats, timeout, protected files: whatever changes the number). It runs
through doit's public API (``DoitMain`` with a task loader) against the project's one doit
database, which the project's dodo.py shares: ``doit list --all`` lists measured
experiments, ``doit info experiment:<sha>`` says whether and why one would run again, and
``doit forget experiment:<sha>`` makes the next measurement of that commit run it again.
doit's rules hold: a forgotten task or a lost database means the experiment runs again (a
cost, never a wrong number), and the database is saved after each experiment.

A crashed measurement is written (the loop reads it) but its task fails, so doit does not
record it as done: once the environment is fixed, ``measure`` or ``setup`` runs it again.

Content dedupe: a commit whose target content and protected files equal those of a commit
measured before under the same run definition reuses that measurement instead of running
(agents repeat themselves). It applies only to a commit with no measurement of its own: a
commit whose task was forgotten is really run, never served from another commit's number.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoresearch import cluster, crash_cause, decide, faults, metrics, runner
from autoresearch.children import ChildRegistry
from autoresearch.config import Config, metric_spec
from autoresearch.metrics import MetricSpec
from autoresearch.errors import EnvironmentProblem, LogWriteError
from autoresearch.experiment import Measurement
from autoresearch.git import Repo
from autoresearch.state import Layout, read_json, write_json
from autoresearch.workspace import Workspace

MAX_LOG_BYTES = 20 * 1024 * 1024
TASK = "experiment"
Tick = Callable[[str, float, float], None]  # (phase, elapsed s, limit s)


def task_name(sha: str) -> str:
    return f"{TASK}:{sha}"


@dataclass
class _Call:
    """One measurement request: what the doit action needs, and what it reports back."""

    sha: str
    tree: Workspace | None
    env: dict[str, str] | None
    on_tick: Tick | None
    ran: bool = False
    error: BaseException | None = None


class Engine:
    """Measures commits of one project under one resolved config."""

    def __init__(self, config: Config, layout: Layout, repo: Repo, *,
                 children: ChildRegistry | None = None):
        self.config = config
        self.layout = layout
        self.repo = repo
        self.children = children
        self.definition = config.run_definition()
        self.definition_hash = config.run_definition_hash()
        self.spec = metric_spec(config)
        self.job_runner = cluster.from_config(config, hidden=(layout.common_dir,))
        self.fetch = cluster.fetch_globs(config)
        self._published = threading.Lock()
        self._checked_runner = False
        _check_database(layout.doit_db)

    # -- paths -----------------------------------------------------------------------------
    def metrics_path(self, sha: str) -> Path:
        return self.layout.run_dir(sha) / "metrics.json"

    def sample_log(self, sha: str, index: int = 1) -> Path:
        return self.layout.run_dir(sha) / str(index) / "run.log"

    def cached(self, sha: str) -> Measurement | None:
        """The measurement on file for ``sha`` under this run definition, if any."""
        data = read_json(self.metrics_path(sha))
        if not data or data.get("definition") != self.definition_hash:
            return None
        return Measurement.from_json(data, cached=True)

    def has_own_measurement(self, sha: str) -> bool:
        data = read_json(self.metrics_path(sha))
        return bool(data) and data.get("definition") == self.definition_hash \
            and not data.get("reused_from")

    # -- the doit task ----------------------------------------------------------------------
    def task(self, sha: str, call: _Call | None = None, doc: str = "") -> dict[str, Any]:
        """The doit task that measures ``sha`` (in ``call.tree``; a fresh worktree otherwise)."""
        from doit.tools import config_changed

        call = call or _Call(sha, None, None, None)
        return {
            "basename": TASK, "name": sha, "doc": doc or f"measure commit {sha[:7]}",
            "actions": [(self._action, (call,))],
            "targets": [str(self.metrics_path(sha))],
            "uptodate": [config_changed(self.definition)],
            "io": {"capture": False},  # doit swaps sys.stdout otherwise: not thread-safe
            "verbosity": 0,
        }

    def measure(self, sha: str, tree: Workspace | None = None, *,
                env: dict[str, str] | None = None, on_tick: Tick | None = None) -> Measurement:
        """Measure ``sha`` (running it in ``tree`` unless doit says it is up to date)."""
        call = _Call(sha, tree, env, on_tick)
        code = run_task(self.layout, self.task(sha, call))
        if call.error is not None:
            raise call.error
        if code != 0 and not call.ran:  # doit itself failed before the action (its database)
            raise EnvironmentProblem(f"doit could not run experiment:{sha[:7]} (exit {code}); "
                                     f"its database {self.layout.doit_db} may be corrupt or "
                                     "locked: remove it (the measurements stay) and run again")
        data = read_json(self.metrics_path(sha))
        if not data:
            raise RuntimeError(f"the measurement of {sha[:7]} left no {self.metrics_path(sha)}")
        return Measurement.from_json(data, cached=not call.ran)

    # -- the action -------------------------------------------------------------------------
    def _action(self, call: _Call):
        from doit.exceptions import TaskFailed

        call.ran = True
        try:
            measured = self._measure_now(call)
        except Exception as exc:  # re-raised by measure() with its traceback
            call.error = exc
            return TaskFailed(str(exc))
        if measured.value is None:  # a crash is written for the loop, never recorded as done
            return TaskFailed(measured.error or "crash")
        return None

    def _measure_now(self, call: _Call) -> Measurement:
        sha = call.sha
        key = self.content_key(sha)
        reused = self._reuse(sha, key)
        if reused is not None:
            return reused
        tree = call.tree
        temporary = tree is None
        if temporary:
            tree = Workspace(self.repo, self.layout, f"measure-{os.getpid()}-"
                             f"{threading.get_ident()}", self.config.run_files)
        try:
            self._checkout_sealed(tree, sha)
            self._check_runner(tree)
            samples = [self._run_sample(sha, index, tree, call)
                       for index in range(1, self.config.repeats + 1)]
        finally:
            if temporary:
                tree.delete()
        measured = self._aggregate(sha, samples)
        write_json(self.metrics_path(sha), {"definition": self.definition_hash,
                                            **measured.to_json()})
        if measured.value is not None:
            write_json(self._content_index(key), {"commit": sha})
        return measured

    def _run_sample(self, sha: str, index: int, tree: Workspace, call: _Call,
                    command: str | None = None, log_path: Path | None = None) -> dict:
        log_path = log_path or self.sample_log(sha, index)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        protected = self.config.protected_files
        before = hash_files(tree.project, protected)
        faults.point("run_start")
        tick = (lambda elapsed: call.on_tick("run", elapsed, self.config.timeout)) \
            if call.on_tick else None
        result = self.job_runner.run(
            command or self.config.run_command, cwd=tree.project, log_path=log_path,
            timeout=self.config.timeout, jobs_dir=self.layout.children, env=call.env,
            fetch=self.fetch, on_tick=tick, max_log_bytes=MAX_LOG_BYTES)
        tampered = sorted(p for p, h in hash_files(tree.project, protected).items()
                          if before.get(p) != h)
        rewritten = tree.modified_tracked()  # reverted by the next checkout, never blamed
        shutil.copyfile(log_path, tree.project / "run.log")  # metric_parse reads ./run.log
        self._publish(log_path)
        log_text = log_path.read_bytes().decode("utf-8", errors="replace")
        error = _run_error(result, tampered, self.config.timeout, log_text)
        if call.on_tick:
            call.on_tick("measure", result.duration_s, self.config.timeout)
        reading = metrics.read(self.spec, project_dir=tree.project, log_path=log_path,
                               duration_s=result.duration_s, seal=self._sealer(tree, call.env))
        return {"value": None if error else reading.value, "error": error or reading.error,
                "extra": reading.extra, "vram_gb": metrics.vram_gb(log_text),
                "duration_s": result.duration_s, "peak_rss_mb": result.peak_rss_mb,
                "exit_code": result.exit_code, "rewritten": rewritten,
                "outputs": [o.to_json() for o in reading.outputs],
                "job": {"job_id": result.job_id, "node": result.node,
                        "cancelled": result.cancelled} if result.job_id else None}

    def _publish(self, log_path: Path) -> None:
        """run.log in the project: the log of the run that finished last."""
        with self._published:
            try:
                shutil.copyfile(log_path, self.layout.run_log)
            except OSError as exc:
                raise LogWriteError(f"cannot write {self.layout.run_log}: "
                                    f"{exc.strerror or exc}") from None

    def _aggregate(self, sha: str, samples: list[dict]) -> Measurement:
        errors = [s["error"] for s in samples if s["value"] is None]
        values = [s["value"] for s in samples if s["value"] is not None]
        value = None if errors else decide.aggregate(values, self.config.aggregate)
        peak = max((s["peak_rss_mb"] for s in samples), default=0.0)
        vram = [s["vram_gb"] for s in samples if s["vram_gb"] is not None]
        extra: dict[str, float] = {}
        for s in samples:
            extra.update(s["extra"] or {})
        target_text = "".join((self._file_at(sha, t) or b"").decode("utf-8", "replace")
                              for t in self.config.targets)
        return Measurement(
            commit=sha, value=value, samples=tuple(values), error=errors[0] if errors else None,
            extra=extra, duration_s=round(sum(s["duration_s"] for s in samples), 4),
            peak_rss_mb=round(peak, 1), memory_gb=round(max(vram) if vram else peak / 1024, 3),
            code_lines=decide.code_lines(target_text, self.config.targets[0]),
            exit_code=samples[-1]["exit_code"] if samples else None,
            outputs=tuple(samples[-1]["outputs"]) if samples else (),
            rewritten=tuple(sorted({p for s in samples for p in s["rewritten"]})),
            jobs=tuple(s["job"] for s in samples if s["job"]))

    def _checkout_sealed(self, tree: Workspace, sha: str) -> None:
        """``sha`` in ``tree`` without the holdout's files: only the holdout run gets them."""
        tree.checkout(sha)
        for path in self.config.holdout_files:
            if not Path(path).is_absolute():
                tree.remove(path)

    def sample(self, sha: str, tree: Workspace, index: int, *,
               env: dict[str, str] | None = None, on_tick: Tick | None = None) -> dict:
        """One run of ``sha``, uncached (paired comparisons interleave candidate and best)."""
        self._checkout_sealed(tree, sha)
        self._check_runner(tree)
        return self._run_sample(sha, index, tree, _Call(sha, tree, env, on_tick))

    def screen(self, sha: str, tree: Workspace, *, env: dict[str, str] | None = None,
               on_tick: Tick | None = None) -> dict:
        """One run of ``screen_command`` on ``sha``, its metric read as the full run's is;
        uncached (it only decides whether the full run is worth it)."""
        self._checkout_sealed(tree, sha)
        self._check_runner(tree)
        return self._run_sample(sha, 0, tree, _Call(sha, tree, env, on_tick),
                                command=self.config.screen_command,
                                log_path=self.layout.run_dir(sha) / "screen.log")

    def measurement_of(self, sha: str, samples: list[dict]) -> Measurement:
        """The measurement of samples taken one by one (not cached: paired ones depend on
        the best they were paired with)."""
        return self._aggregate(sha, samples)

    def holdout(self, sha: str, tree: Workspace) -> float | None:
        """The sealed holdout's value for ``sha`` (its files present only for this run), or
        None when it fails or prints no number."""
        tree.checkout(sha)
        spec = MetricSpec(name="holdout", source="command", command=self.config.holdout_command)
        log_path = self.layout.run_dir(sha) / "holdout.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("")
        reading = metrics.read(spec, project_dir=tree.project, log_path=log_path,
                               duration_s=0.0, timeout=self.config.timeout,
                               seal=self._sealer(tree))
        return reading.value  # what it left goes at the next checkout, as every run's does

    def _sealer(self, tree: Workspace, env: dict[str, str] | None = None
                ) -> Callable[[str], str] | None:
        """With ``sandbox_run: strict``: what seals another command run in ``tree`` (the
        candidate's code runs in check_command, metric_parse and the holdout too)."""
        if not isinstance(self.job_runner, cluster.SealedRunner):
            return None
        return lambda command: self.job_runner.seal(command, tree.project, env)

    def _check_runner(self, tree: Workspace) -> None:
        """Once per engine: the runner can run here (a Slurm node sees the tree, say)."""
        if not self._checked_runner:
            self.job_runner.preflight(tree.project, jobs_dir=self.layout.children)
            self._checked_runner = True

    # -- content dedupe ---------------------------------------------------------------------
    def _file_at(self, sha: str, path: str) -> bytes | None:
        return self.repo.file_at(sha, self.layout.in_repo(path))

    def content_key(self, sha: str) -> str:
        digest = hashlib.sha256(self.definition_hash.encode())
        for path in sorted(self.config.targets + self.config.protected_files):
            content = self._file_at(sha, path)
            digest.update(path.encode() + b"\0" + (content or b"<missing>") + b"\0")
        return digest.hexdigest()[:24]

    def _content_index(self, key: str) -> Path:
        return self.layout.content / f"{key}.json"

    def _reuse(self, sha: str, key: str) -> Measurement | None:
        """The measurement of another commit with the same content (``key``), for a commit
        that has none of its own (see the module docstring)."""
        if read_json(self.metrics_path(sha)) is not None:
            return None
        entry = read_json(self._content_index(key)) or {}
        other = entry.get("commit")
        data = read_json(self.metrics_path(other)) if other and other != sha else None
        if not data or data.get("definition") != self.definition_hash or data.get("value") is None:
            return None
        reused = Measurement.from_json({**data, "commit": sha, "reused_from": other})
        write_json(self.metrics_path(sha), {"definition": self.definition_hash,
                                            **reused.to_json()})
        return reused

    def calibrate(self, sha: str, tree: Workspace, runs: int) -> list[float]:
        """Run ``sha`` ``runs`` times, uncached (the point is to see the spread); the values."""
        self._checkout_sealed(tree, sha)
        call = _Call(sha, tree, None, None)
        samples = [self._run_sample(sha, index, tree, call) for index in range(1, runs + 1)]
        return [s["value"] for s in samples if s["value"] is not None]

    # -- the check before a keep -----------------------------------------------------------
    def check(self, sha: str, tree: Workspace, env: dict[str, str] | None = None
              ) -> tuple[bool, str | None]:
        """Run check_command on ``sha``, without the holdout's files; (passed, log tail when
        it failed)."""
        self._checkout_sealed(tree, sha)
        log_path = self.layout.run_dir(sha) / "check.log"
        seal = self._sealer(tree, env)
        command = self.config.check_command
        result = runner.run(seal(command) if seal else command, cwd=tree.project, env=env,
                            timeout=self.config.timeout, stdout_path=log_path,
                            children=self.children)
        if result.exit_code == 0:
            return True, None
        how = "timed out" if result.timed_out else f"exit {result.exit_code}"
        return False, f"check failed ({how})\n" + runner.tail(log_path, 2000)


def hash_files(root: Path, paths: tuple[str, ...]) -> dict[str, str | None]:
    """sha256 of each file's content (None when it does not exist)."""
    hashes: dict[str, str | None] = {}
    for path in paths:
        try:
            hashes[path] = hashlib.sha256((root / path).read_bytes()).hexdigest()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            hashes[path] = None
    return hashes


def _run_error(result: runner.RunResult, tampered: list[str], timeout: float,
               log_text: str) -> str | None:
    """Why the run counts as a crash, with its cause (the log's most telling line)."""
    if tampered:
        return f"tampered: the run modified {', '.join(tampered)}"
    if result.timed_out:
        error = f"timeout: killed after {timeout:g} s"
    elif result.exit_code not in (0, None):
        error = f"exit code {result.exit_code}"
    else:
        return None
    why = crash_cause.cause(log_text)
    return f"{error}: {why}" if why else error


# -- doit, through its public API ----------------------------------------------------------

class _Silent:
    """A doit reporter that says nothing (the engine reports through its own results)."""

    desc = "silent"

    def __init__(self, outstream, options):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _check_database(path: Path) -> None:
    """doit's database can be opened (else one line naming it, before doit would print its
    own traceback)."""
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA schema_version")
    except sqlite3.Error as exc:
        raise EnvironmentProblem(f"doit's database {path} cannot be used ({exc}): remove it "
                                 "(the measurements stay) and run again") from None


def doit_config(layout: Layout | None) -> dict[str, Any]:
    """The DOIT_CONFIG shared by the engine, the CLI and a project's dodo.py."""
    return {"backend": "sqlite3",
            "dep_file": str(layout.doit_db) if layout is not None else ":memory:",
            "verbosity": 0, "reporter": _Silent, "default_tasks": []}


@functools.cache
def _entry_points(group: str) -> tuple:
    return tuple(importlib.metadata.entry_points(group=group))


def _cached_entry_points():
    """doit looks its plugins up in every installed distribution's metadata on each run (17 ms
    of each cached measurement, bench/bench_loop.py); they cannot change within one process."""
    return lambda group: _entry_points(group)


def run_task(layout: Layout, task: dict[str, Any]) -> int:
    """Run one task dict with doit (``DoitMain`` and a task loader, doit's documented way
    to embed it); doit's return code."""
    from doit import plugin
    from doit.cmd_base import TaskLoader2
    from doit.doit_cmd import DoitMain
    from doit.task import dict_to_task

    plugin.entry_points_impl = _cached_entry_points

    class OneTask(TaskLoader2):
        def setup(self, opt_values):
            pass

        def load_doit_config(self):
            return doit_config(layout)

        def load_tasks(self, cmd, pos_args):
            name = f"{task['basename']}:{task['name']}"
            return [dict_to_task({**{k: v for k, v in task.items() if k != "basename"},
                                  "name": name})]

    layout.state.mkdir(parents=True, exist_ok=True)
    return DoitMain(OneTask(), config_filenames=()).run(
        ["run", f"{task['basename']}:{task['name']}"])
