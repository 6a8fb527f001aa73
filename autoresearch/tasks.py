"""The doit tasks users run (``doit loop``, ``doit setup``, ``doit results`` ...) and the one
error handler every command goes through, whichever entry point started it.

A project's one-line dodo.py (``from autoresearch.tasks import *``) exposes the tasks to doit;
the ``autoresearch`` script runs the same tasks. Each task's action is :func:`perform`: it
runs the command and turns every way it can end into an exit code (README.md's table): a
UserError is one line on stderr and its code; a signal is 128 + the signal; stdout closing is
141; anything else is an internal error (70) whose traceback goes to a crash file under the
state directory, named on stderr. The code leaves doit as ``SystemExit``, so ``doit`` and
``autoresearch`` exit alike.

The measured experiments are doit tasks too (``experiment:<sha>``, see engine.py): created
only when a doit command lists or inspects them (``doit list --all``, ``doit info``,
``doit forget``), never on ``doit loop``.
"""

from __future__ import annotations

import errno
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from doit import create_after

from autoresearch import commands, output, state
from autoresearch.commands import Invocation
from autoresearch.engine import doit_config
from autoresearch.errors import ExitCode, Interrupted, LogWriteError, UserError

# Errors of the disk rather than of autoresearch: reported like an unwritable log (exit 6).
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.EISDIR, errno.ENOTDIR}


def _project_layout() -> state.Layout | None:
    layout = state.find(Path.cwd())
    if layout is not None and "dodo" in sys.modules:  # doit opens its database next
        layout.state.mkdir(parents=True, exist_ok=True)
    return layout


DOIT_CONFIG = {**doit_config(_project_layout()), "verbosity": 2}


# -- the commands ------------------------------------------------------------------------------

def _config(inv: Invocation, console: output.Console) -> None:
    from autoresearch.config import describe, resolve

    console.result(describe(resolve(Path.cwd(), inv.flags)))


def _init(inv: Invocation, console: output.Console) -> None:
    from autoresearch.setup import write_dodo

    console.result(write_dodo(Path.cwd()))


def _setup(inv: Invocation, console: output.Console) -> None:
    from autoresearch.setup import setup

    setup(Path.cwd(), inv.flags, tag=inv.options["tag"], resume=inv.options["resume"],
          calibrate=inv.options["calibrate"], console=console)


def _measure(inv: Invocation, console: output.Console) -> None:
    from autoresearch.measure import measure_command

    measure_command(Path.cwd(), inv.flags, list(inv.positionals), console)


def _loop(inv: Invocation, console: output.Console) -> None:
    from autoresearch.loop import loop_command

    loop_command(Path.cwd(), inv.flags, inv.options, console)


def _results(inv: Invocation, console: output.Console) -> None:
    from autoresearch.results_command import results_command

    results_command(Path.cwd(), inv.options, console)


def _finalize(inv: Invocation, console: output.Console) -> None:
    from autoresearch.results_command import finalize_command

    finalize_command(Path.cwd(), inv.options, console)


def _demo(inv: Invocation, console: output.Console) -> None:
    from autoresearch.demo import demo

    demo(iterations=inv.options["iterations"], directory=inv.options["dir"], console=console,
         dashboard=inv.options["dashboard"])


def _dashboard(inv: Invocation, console: output.Console) -> None:
    from autoresearch.dashboard import run

    run(Path.cwd(), host=inv.options["host"], port=inv.options["port"],
        tag=inv.options["tag"])


RUN: dict[str, Callable[[Invocation, output.Console], None]] = {
    "loop": _loop, "setup": _setup, "results": _results, "measure": _measure,
    "config": _config, "detect": _config, "init": _init, "finalize": _finalize, "demo": _demo,
    "dashboard": _dashboard,
}


# -- the one handler ---------------------------------------------------------------------------

def perform(invocation: Invocation) -> None:
    """Run a command; every ending becomes ``SystemExit`` with the README's exit code."""
    options = invocation.options
    console = output.Console(quiet=bool(options.get("quiet")),
                             progress_to_stderr=bool(options.get("json")))
    try:
        RUN[invocation.command](invocation, console)
    except UserError as error:
        _say(console, error.message)
        raise SystemExit(int(error.exit_code)) from None
    except Interrupted as interrupt:
        raise SystemExit(interrupt.exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C before the command installed its handlers
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
    except BrokenPipeError:
        raise SystemExit(int(ExitCode.STDOUT_CLOSED)) from None
    except OSError as exc:
        if exc.errno not in _CANNOT_WRITE:
            _internal_error(console)
        error = LogWriteError(f"cannot write {exc.filename or 'a file'}: {exc.strerror}")
        _say(console, error.message)
        raise SystemExit(int(error.exit_code)) from None
    except Exception:
        _internal_error(console)


def _say(console: output.Console, message: str) -> None:
    try:
        console.error(message)
    except Interrupted:
        pass


def _internal_error(console: output.Console) -> None:
    """A bug: the traceback goes to a crash file, its path to stderr; exit 70."""
    layout = state.find(Path.cwd())
    directory = layout.crashes if layout is not None else Path("/tmp")
    path = directory / f"autoresearch-crash-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
        where = f"the traceback is in {path}"
    except OSError:
        where = "the traceback could not be saved"
    _say(console, f"internal error (a bug in autoresearch, please report it): "
                  f"{sys.exc_info()[1]!r}; {where}")
    raise SystemExit(int(ExitCode.INTERNAL)) from None


# -- the doit tasks ----------------------------------------------------------------------------

def _perform_from_doit(name: str, **values: Any) -> None:
    positionals = values.pop("positionals", None)
    try:
        invocation = commands.from_doit(name, values, positionals)
    except UserError as error:
        _say(output.Console(), error.message)
        raise SystemExit(int(error.exit_code)) from None
    perform(invocation)


def task_for(name: str, action: Callable[..., None] | None = None,
             params: bool = True) -> dict[str, Any]:
    """The doit task of command ``name`` (its action: ``action`` or the doit parser's)."""
    cmd = commands.command(name)
    task: dict[str, Any] = {
        "actions": [action or (_perform_from_doit, [name])],
        "params": commands.doit_params(name) if params else [],
        "uptodate": [False], "verbosity": 2, "doc": cmd.doc}
    if cmd.positional and params:
        task["pos_arg"] = "positionals"
    return task


def task_loop():
    """Run the experiment loop: propose, commit, measure, keep or reset, log; forever or N times."""
    return task_for("loop")


def task_setup():
    """Create the autoresearch/<tag> branch, results.tsv and logs; measure the baseline."""
    return task_for("setup")


def task_results():
    """Summarise the experiments of a tag: table, formats, jmespath queries, progress plot."""
    return task_for("results")


def task_measure():
    """Measure commits (default HEAD); a commit measured before is not run again."""
    return task_for("measure")


def task_config():
    """Show the resolved config and where each value came from (recipe, CLAUDE.md, flags)."""
    return task_for("config")


def task_detect():
    """Alias of config: show the detected project type and resolved config."""
    return task_for("detect")


def task_init():
    """Write a one-line dodo.py so 'doit loop', 'doit setup', 'doit results' work here."""
    return task_for("init")


def task_finalize():
    """Squash a tag's kept experiments into branch autoresearch/<tag>-final, ready for a PR."""
    return task_for("finalize")


def task_demo():
    """Copy the built-in ML demo to a new git repo and run a bounded loop with the tune agent."""
    return task_for("demo")


def task_dashboard():
    """Serve a live page of the project's loop: chart, experiments, diffs, what runs now."""
    return task_for("dashboard")


@create_after(executed=None)
def task_experiment():
    """Measured experiments: one task per commit (doit list --all, info, forget)."""
    from autoresearch.experiments import measured_tasks

    yield from measured_tasks(Path.cwd())


TASK_NAMES = commands.NAMES

__all__ = ["DOIT_CONFIG", "task_experiment"] + [f"task_{name}" for name in TASK_NAMES]
