"""Plain helpers shared by the test modules: ``from helpers import ...``.

pytest puts tests/ on ``sys.path`` (the directory of the rootdir conftest.py, tests/ having
no ``__init__.py``), so this module imports by its bare name, as ``conftest`` does.

Most of it serves the tests that run the CLI in a *sandbox*: a project made by
:func:`make_project` at ``tmp/project`` and, beside it, ``tmp/home`` (HOME), ``tmp/plan.json``
and ``tmp/agent.py`` (a stand-in ``command`` agent that follows the plan). Every git and CLI
call there gets :func:`environment` (a pinned identity, no user or system git config, no
retry backoff) explicitly, so the test process's own environment is left alone.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

PY = sys.executable
EVENTS = ".claude/logs/autoresearch.jsonl"
PREPARE = "# data and evaluation: do not modify\n"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}

# The stand-in agent: ``agent.py PLAN``. Call n (counted in PLAN.calls) records what it was
# handed as a line of PLAN.states (the target train.py's text, the files of its directory,
# whether it can see a git repository), then follows step n of the plan: files to write and
# to delete, a file to receive its pid (``marker``), how long to sleep, what to print
# (``say``) and its exit code. Past the plan's end it fails.
AGENT = r'''
import json, os, pathlib, subprocess, sys, time
plan_file = pathlib.Path(sys.argv[1])
plan = json.loads(plan_file.read_text())
calls = plan_file.with_suffix(".calls")
n = int(calls.read_text()) if calls.exists() else 0
calls.write_text(str(n + 1))
here = pathlib.Path.cwd()
seen = {"train": (here / "train.py").read_text() if (here / "train.py").exists() else None,
        "files": sorted(str(p.relative_to(here)) for p in here.rglob("*") if p.is_file()),
        "repo": subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                               text=True).stdout.strip()}
with open(plan_file.with_suffix(".states"), "a") as states:
    states.write(json.dumps(seen) + "\n")
if n >= len(plan):
    sys.exit(f"agent plan exhausted after {len(plan)} calls")
step = plan[n]
for path, text in step.get("write", {}).items():
    pathlib.Path(path).write_text(text)
for path in step.get("delete", []):
    os.remove(path)
if step.get("marker"):
    pathlib.Path(step["marker"]).write_text(str(os.getpid()))
time.sleep(step.get("sleep", 0))
print(step.get("say", f"step {n + 1}"))
sys.exit(step.get("exit", 0))
'''


# -- environments and subprocesses -----------------------------------------------------------

def home_environment(tmp: Path) -> dict[str, str]:
    """This process's environment with HOME at ``tmp/home`` (created) and no retry backoff."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "AUTORESEARCH_BACKOFF_S": "0"}


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    """The sandbox of ``tmp``: :func:`home_environment`, a pinned git identity and no user or
    system git config, no colour, no bytecode files; then ``extra``."""
    return {**home_environment(tmp), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, **IDENTITY, "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1", **extra}


def git_run(cwd: Path, *args: str,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``cwd``; ``env`` defaults to the sandbox ``environment(cwd.parent)``."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env=environment(cwd.parent) if env is None else env)


def git(cwd: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None) -> str:
    """:func:`git_run`'s stdout (stripped); with ``check``, a failure fails the test."""
    done = git_run(cwd, *args, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def command(*args: str) -> list[str]:
    """The CLI as a user runs it: ``python -m autoresearch ARGS``."""
    return [PY, "-m", "autoresearch", *args]


def cli(cwd: Path, *args: str, env: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI in ``cwd`` to its end. ``env`` is its whole environment (default: the
    sandbox ``environment(cwd.parent)``), ``extra`` is added on top."""
    env = environment(cwd.parent) if env is None else env
    return subprocess.run(command(*args), cwd=cwd, env={**env, **(extra or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)


def start(cwd: Path, *args: str, env: Mapping[str, str] | None = None,
          extra: Mapping[str, str] | None = None, stdout: int = subprocess.PIPE,
          ) -> subprocess.Popen:
    """Start the CLI as :func:`cli` would run it; stderr is a pipe, stdout ``stdout``."""
    env = environment(cwd.parent) if env is None else env
    return subprocess.Popen(command(*args), cwd=cwd, env={**env, **(extra or {})},
                            stdout=stdout, stderr=subprocess.PIPE, text=True)


# -- projects ------------------------------------------------------------------------------

def yaml_config(**values: object) -> str:
    """An autoresearch.yaml: one ``key: <JSON value>`` line a key (JSON is YAML)."""
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())


def write_ml_project(root: Path, train: str, config: Mapping[str, object] | None = None) -> Path:
    """Create ``root`` with train.py (``train``), prepare.py (never edited) and, given a
    ``config``, autoresearch.yaml."""
    root.mkdir()
    (root / "train.py").write_text(train)
    (root / "prepare.py").write_text(PREPARE)
    if config is not None:
        (root / "autoresearch.yaml").write_text(yaml_config(**config))
    return root


def train_py(value: float, *, before: str = "", after: str = "") -> str:
    """A train.py printing ``val_bpb: VALUE``; ``before`` and ``after`` add lines around
    the constant (they change the line count, not the value)."""
    return f"{before}VALUE = {value!r}\n{after}print(f'val_bpb: {{VALUE:.6f}}')\n"


def make_project(tmp: Path, train: str, plan: list | None = None, *, agent: str = AGENT,
                 **config: object) -> Path:
    """A sandbox project ``tmp/project`` (train.py + prepare.py + autoresearch.yaml) committed
    on branch main. With a ``plan``, the ``command`` agent is ``agent`` (a script written to
    ``tmp/agent.py``) run as ``agent.py tmp/plan.json``. ``config`` adds to or overrides
    the configuration (run_command: python train.py)."""
    project = tmp / "project"
    agent_config = {}
    if plan is not None:
        (tmp / "plan.json").write_text(json.dumps(plan))
        (tmp / "agent.py").write_text(agent)
        agent_config = {"agent": "command", "agent_command":
                        f"{shlex.quote(PY)} {tmp / 'agent.py'} {tmp / 'plan.json'}"}
    write_ml_project(project, train, {"run_command": f"{shlex.quote(PY)} train.py",
                                      **agent_config, **config})
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    return project


# -- what a loop leaves ------------------------------------------------------------------------

def records(project: Path) -> list[dict]:
    """Every record of the project's JSONL log."""
    return [json.loads(line) for line in (project / EVENTS).read_text().splitlines()]


def experiments(project: Path) -> list[dict]:
    """The details of every ``experiment_done`` record."""
    return [r["details"] for r in records(project) if r["action"] == "experiment_done"]


def agent_states(tmp: Path) -> list[dict]:
    """What the stand-in agent recorded of the tree it was handed at each call (none: [])."""
    path = tmp / "plan.states"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def agent_saw(tmp: Path) -> list[str | None]:
    """The train.py the stand-in agent found at each call."""
    return [state["train"] for state in agent_states(tmp)]


def at(project: Path, sha: str, path: str = "train.py") -> str:
    """The content of ``path`` in commit ``sha``."""
    return git_run(project, "show", f"{sha}:{path}").stdout


def agent_calls(tmp: Path) -> int:
    """How many times the stand-in agent was called."""
    path = tmp / "plan.calls"
    return int(path.read_text()) if path.exists() else 0


# -- processes -------------------------------------------------------------------------------

T = TypeVar("T")


def wait_until(ready: Callable[[], T], proc: subprocess.Popen | None, what: str,
               timeout: float = 60) -> T:
    """Poll ``ready()`` until it returns something true, and return that; fail the test if
    ``proc`` ends first or ``timeout`` seconds pass. ``what`` names what is awaited."""
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the loop ended (exit {proc.returncode}) before {what}:\n"
                        f"{out or ''}{err or ''}")
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)
    return found


def wait_for(path: Path, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Wait until ``path`` holds something (a pid: the phase has begun)."""
    wait_until(lambda: path.exists() and path.read_text().strip(), proc,
               f"{path.name} appeared", timeout)


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def state_dir(project: Path) -> Path:
    """The tool's state directory of a project at the root of its repository."""
    return project / ".git" / "autoresearch" / "root"


def ledger(project: Path) -> list[dict]:
    """Every record of the project's authoritative ledger."""
    path = state_dir(project) / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
