"""The doit tasks users run: ``doit loop``, ``doit setup``, ``doit results`` ...

A project's one-line dodo.py (``from autoresearch.tasks import *``) exposes them to
doit; the ``autoresearch`` command drives the same tasks. Task functions only wire
the stage modules together; each action reports a UserError as one line.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any, Callable

from autoresearch import output
from autoresearch.config import SCHEMA
from autoresearch.errors import Interrupted, LogWriteError, UserError

STATE_DIR = ".autoresearch"


class Failure:
    """The error that ended the last action, for the CLI's exit code."""

    error: BaseException | None = None


class OneLineReporter:
    """doit's console reporter without task titles; a UserError is one line on stderr.

    It wraps doit's ConsoleReporter rather than subclassing it, so that importing this
    module does not import doit (about 100 ms): ``autoresearch --help`` needs none of it.
    """

    desc = "autoresearch: one line per error, nothing else"

    def __init__(self, outstream, options):
        from doit.reporter import ConsoleReporter

        self._console = ConsoleReporter(outstream, options)

    def __getattr__(self, name: str) -> Any:
        if name == "_console":  # not set yet (e.g. during copy): no endless recursion
            raise AttributeError(name)
        return getattr(self._console, name)

    def execute_task(self, task):
        pass

    def skip_uptodate(self, task):
        pass

    def add_failure(self, task, fail):
        error = Failure.error
        if isinstance(error, UserError):
            output.error(error.message)
        elif isinstance(error, Interrupted):
            pass
        else:
            self._console.add_failure(task, fail)

    def complete_run(self):
        if Failure.error is None:
            self._console.complete_run()


if "dodo" in sys.modules:  # imported by a project's dodo.py: doit opens the db next
    Path(STATE_DIR).mkdir(exist_ok=True)

DOIT_CONFIG = {
    "backend": "sqlite3",
    "dep_file": f"{STATE_DIR}/doit.sqlite3",
    "verbosity": 2,
    "reporter": OneLineReporter,
    "default_tasks": [],
}


# Errors of the disk rather than of autoresearch (the files it writes in the project and in
# .autoresearch/): reported like an unwritable log, not as an internal error.
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.EISDIR, errno.ENOTDIR}


def _action(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a stage function so user errors and interrupts become doit failures."""

    def run(**options: Any):
        Failure.error = None
        try:
            function(**options)
        except (UserError, Interrupted) as error:
            from doit.exceptions import TaskFailed

            Failure.error = error
            return TaskFailed(str(error))
        except OSError as exc:  # a full disk or a read-only file: one line, exit 6
            if exc.errno not in _CANNOT_WRITE:
                raise
            from doit.exceptions import TaskFailed

            Failure.error = LogWriteError(f"cannot write {exc.filename or 'a file'}: "
                                          f"{exc.strerror}")
            return TaskFailed(str(Failure.error))
        return None

    run.__name__ = function.__name__
    return run


def _param(name: str, help_text: str, default: Any = None, kind: type = str,
           short: str = "") -> dict:
    param = {"name": name, "long": name.replace("_", "-"), "type": kind,
             "default": default, "help": help_text}
    if short:
        param["short"] = short
    return param


CONFIG_PARAMS = [
    _param(k.name, f"{k.help} [config key {k.name}]",
           default=False if k.name == "agent_skip_permissions" else None,
           kind=bool if k.name == "agent_skip_permissions" else str)
    for k in SCHEMA
]
TAG_PARAM = _param("tag", "experiment tag; branch autoresearch/<tag> (default: today, e.g. nov25)")


def config_flags(options: dict[str, Any]) -> dict[str, Any]:
    """The config-key options that were given on the command line."""
    flags = {k.name: options.get(k.name) for k in SCHEMA}
    if not flags.get("agent_skip_permissions"):
        flags["agent_skip_permissions"] = None
    return {k: v for k, v in flags.items() if v is not None}


def _task(doc: str, function: Callable[..., Any], params: list[dict],
          pos_arg: str | None = None) -> dict:
    task = {"actions": [(_action(function),)], "params": params, "verbosity": 2,
            "uptodate": [False], "doc": doc}
    if pos_arg:
        task["pos_arg"] = pos_arg
    return task


def _show_config(**options: Any) -> None:
    from autoresearch.config import describe, resolve

    output.result(describe(resolve(Path.cwd(), config_flags(options))))


def task_config():
    """Show the resolved config and where each value came from (recipe, CLAUDE.md, flags)."""
    return _task(task_config.__doc__, _show_config, CONFIG_PARAMS)


def task_detect():
    """Alias of config: show the detected project type and resolved config."""
    return _task(task_detect.__doc__, _show_config, CONFIG_PARAMS)


def _init(**options: Any) -> None:
    from autoresearch.setup import write_dodo

    output.result(write_dodo(Path.cwd()))


def task_init():
    """Write a one-line dodo.py so 'doit loop', 'doit setup', 'doit results' work here."""
    return _task(task_init.__doc__, _init, [])


def _setup(**options: Any) -> None:
    from autoresearch.setup import setup

    setup(Path.cwd(), config_flags(options), tag=options["tag"], resume=options["resume"],
          calibrate=options["calibrate"])


def task_setup():
    """Create the autoresearch/<tag> branch, results.tsv and logs; measure the baseline."""
    params = [TAG_PARAM,
              _param("resume", "check out an existing tag's branch and continue", False, bool),
              _param("calibrate", "measure the baseline N times to set the noise floor", 0, int)]
    return _task(task_setup.__doc__, _setup, params + CONFIG_PARAMS)


def _measure(**options: Any) -> None:
    from autoresearch.engine import measure_command

    measure_command(Path.cwd(), config_flags(options), options["commits"] or ["HEAD"])


def task_measure():
    """Measure commits (default HEAD); a commit measured before is not run again."""
    return _task(task_measure.__doc__, _measure, CONFIG_PARAMS, pos_arg="commits")


def _loop(**options: Any) -> None:
    from autoresearch.loop import loop_command

    loop_command(Path.cwd(), config_flags(options), options)


LOOP_PARAMS = [
    TAG_PARAM,
    _param("iterations", "stop after N experiments (default: never stop)", 0, int, "n"),
    _param("max_time", "stop after this long, e.g. 8h or 30m"),
    _param("max_cost", "stop when the agents' total cost reaches this many USD"),
    _param("quiet", "print only errors and the final summary", False, bool, "q"),
    _param("json", "print a machine-readable summary at the end", False, bool),
    _param("jobs", "experiments at once, each in a git worktree (default 1, or one per GPU "
                   "with --gpus)", 0, int, "j"),
    _param("gpus", "GPUs for the experiments, one each: e.g. 0,1,2,3 or all (nvidia-smi)"),
    _param("prefetch", "ask the agent for the next candidate while an experiment runs",
           False, bool),
]


def task_loop():
    """Run the experiment loop: propose, commit, measure, keep or reset, log; forever or N times."""
    return _task(task_loop.__doc__, _loop, LOOP_PARAMS + CONFIG_PARAMS)


def _results(**options: Any) -> None:
    from autoresearch.results_command import results_command

    results_command(Path.cwd(), options)


def task_results():
    """Summarise the experiments of a tag: table, formats, jmespath queries, progress plot."""
    params = [
        TAG_PARAM,
        _param("last", "show only the last N experiments", 0, int),
        _param("status", "show only keep, discard or crash"),
        _param("format", "table, tsv, json or md", "table"),
        _param("query", "a jmespath expression over the experiment_done records"),
        _param("plot", "write a progress plot to this PNG file (extra 'plot')"),
    ]
    return _task(task_results.__doc__, _results, params)


def _finalize(**options: Any) -> None:
    from autoresearch.results_command import finalize_command

    finalize_command(Path.cwd(), options)


def task_finalize():
    """Squash a tag's kept experiments into branch autoresearch/<tag>-final, ready for a PR."""
    return _task(task_finalize.__doc__, _finalize, [TAG_PARAM])


def _demo(**options: Any) -> None:
    from autoresearch.demo import demo

    demo(iterations=options["iterations"], directory=options["dir"])


def task_demo():
    """Copy the built-in ML demo to a new git repo and run a bounded loop with the tune agent."""
    params = [_param("iterations", "experiments to run", 10, int, "n"),
              _param("dir", "where to create the demo project (default: a new temp dir)")]
    return _task(task_demo.__doc__, _demo, params)


TASK_NAMES = ("loop", "setup", "results", "measure", "config", "detect", "init", "finalize",
              "demo")

__all__ = ["DOIT_CONFIG"] + [f"task_{name}" for name in TASK_NAMES]
