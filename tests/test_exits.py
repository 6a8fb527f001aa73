"""Every way a command ends, through both entry points: ``autoresearch <cmd>`` and
``doit <cmd>`` (a project's one-line dodo.py) give the README's exit codes and one line on
stderr; signals, a closed stdout, an internal error and Ctrl-C at start-up end cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli, environment, make_project, records, start, state_dir, train_py, \
    wait_for

from autoresearch import commands, tasks
from autoresearch.commands import Invocation

DOIT = Path(sys.executable).parent / "doit"


def entry(point: str, project: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """Run a command through ``point``: the autoresearch script, or doit with the dodo.py."""
    if point == "autoresearch":
        return cli(project, *args, extra=extra)
    if not (project / "dodo.py").exists():
        assert cli(project, "init").returncode == 0
    return subprocess.run([str(DOIT), *args], cwd=project, capture_output=True, text=True,
                          env={**environment(project.parent), **extra}, timeout=120)


POINTS = ["autoresearch", "doit"]


@pytest.mark.parametrize("point", POINTS)
def test_a_bad_value_is_exit_2_and_one_line(point, tmp_path):
    project = make_project(tmp_path, train_py(1.0))
    done = entry(point, project, "config", "--time-budget", "0")
    assert (done.returncode, done.stderr) == (
        2, "autoresearch: error: --time-budget: time_budget = '0' must be greater than 0\n")


@pytest.mark.parametrize("point", POINTS)
def test_a_nul_byte_in_a_config_value_is_exit_2_and_creates_nothing(point, tmp_path):
    project = make_project(tmp_path, train_py(1.0))
    (project / "autoresearch.yaml").write_text(
        (project / "autoresearch.yaml").read_text() + 'metric_name: "val\\0bpb"\n')
    done = entry(point, project, "loop", "-n", "1")
    assert done.returncode == 2, done.stderr
    assert "metric_name" in done.stderr and "NUL byte" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (project / "results.tsv").exists()


@pytest.mark.parametrize("point", POINTS)
def test_agent_failures_in_a_row_are_exit_4(point, tmp_path):
    project = make_project(tmp_path, train_py(1.0), [], agent_max_failures=1)
    done = entry(point, project, "loop", "-n", "1")
    assert done.returncode == 4, done.stderr
    assert done.stderr.splitlines()[-1].startswith("autoresearch: error: agent 'command' "
                                                   "failed 1 times in a row")


@pytest.mark.parametrize("point", POINTS)
def test_a_baseline_that_crashes_is_exit_7(point, tmp_path):
    project = make_project(tmp_path, "raise SystemExit(1)\n", [])
    done = entry(point, project, "loop", "-n", "1")
    assert done.returncode == 7, done.stderr
    assert "no working baseline" in done.stderr


@pytest.mark.parametrize("point", POINTS)
def test_an_unknown_commit_to_measure_is_one_line(point, tmp_path):
    project = make_project(tmp_path, train_py(1.0))
    done = entry(point, project, "measure", "nosuchcommit")
    assert (done.returncode, done.stderr) == (
        1, "autoresearch: error: unknown commit 'nosuchcommit': give a sha, branch or tag\n")


@pytest.mark.parametrize("name", commands.NAMES)
def test_doit_help_works_for_every_task(name, tmp_path):
    project = make_project(tmp_path, train_py(1.0))
    done = entry("doit", project, "help", name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(name) and "Traceback" not in done.stderr


def test_options_after_a_positional_argument_under_doit(tmp_path):
    project = make_project(tmp_path, train_py(1.0))
    done = entry("doit", project, "measure", "HEAD", "--run-command", "echo val_bpb: 0.25")
    assert done.returncode == 0, done.stderr
    assert "val_bpb 0.250000" in done.stdout


# -- signals and a closed stdout ---------------------------------------------------------------

def slow_plan(marker: Path) -> list[dict]:
    return [{"write": {"train.py": train_py(0.9)}, "marker": str(marker), "sleep": 60}]


def test_sighup_stops_the_loop_with_129_and_an_interrupted_record(tmp_path):
    marker = tmp_path / "agent.pid"
    project = make_project(tmp_path, train_py(1.0), slow_plan(marker))
    proc = start(project, "loop", "-n", "1")
    wait_for(marker, proc)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=60)
    assert proc.returncode == 129
    assert (records(project)[-1]["action"], records(project)[-1]["details"]["signal"]) == (
        "interrupted", "SIGHUP")


def test_a_closed_stdout_stops_the_loop_with_141_and_no_traceback(tmp_path):
    plan = [{"write": {"train.py": train_py(1.0 - n / 100)}, "say": f"step {n}"}
            for n in range(1, 40)]
    project = make_project(tmp_path, train_py(1.0), plan)
    proc = start(project, "loop", "-n", "39")
    for _ in range(2):  # `autoresearch loop | head -2`
        proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141, stderr
    assert "Traceback" not in stderr
    last = records(project)[-1]
    assert (last["action"], last["details"]["signal"]) == ("interrupted", "SIGPIPE")


# -- in process: the handler ---------------------------------------------------------------

def test_ctrl_c_before_the_command_installed_its_handlers_is_130(monkeypatch):
    def interrupted(invocation, console):
        raise KeyboardInterrupt

    monkeypatch.setitem(tasks.RUN, "config", interrupted)
    with pytest.raises(SystemExit) as ended:
        tasks.perform(Invocation("config", {}))
    assert ended.value.code == 130


def test_an_internal_error_is_70_with_the_traceback_in_a_crash_file(monkeypatch, tmp_path,
                                                                     capsys):
    project = make_project(tmp_path, train_py(1.0))
    monkeypatch.chdir(project)

    def broken(invocation, console):
        raise RuntimeError("a bug")

    monkeypatch.setitem(tasks.RUN, "config", broken)
    with pytest.raises(SystemExit) as ended:
        tasks.perform(Invocation("config", {}))
    assert ended.value.code == 70
    err = capsys.readouterr().err
    assert err.startswith("autoresearch: error: internal error (a bug in autoresearch, please "
                          "report it): RuntimeError('a bug'); the traceback is in ")
    crash = Path(err.rsplit("the traceback is in ", 1)[1].strip())
    assert crash.parent == state_dir(project) / "crashes"
    assert "RuntimeError: a bug" in crash.read_text()


# -- what read-only commands leave ---------------------------------------------------------

@pytest.mark.parametrize("args", [["config"], ["detect"], ["results"], ["--help"],
                                  ["loop", "--help"]])
def test_read_only_commands_create_nothing(args, tmp_path):
    project = make_project(tmp_path, train_py(1.0))
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = cli(project, *args)
    assert done.returncode in (0, 1), done.stderr  # results: "no experiments logged yet"
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_a_repository_without_commits_is_one_line_and_creates_nothing(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(train_py(1.0))
    (project / "prepare.py").write_text("\n")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = cli(project, "loop", "-n", "1", "--agent", "tune")
    assert done.returncode == 3
    assert done.stderr == (f"autoresearch: error: {project} has no commits yet: commit your "
                           "project first (git add -A && git commit -m 'start')\n")
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_state_an_earlier_version_committed_by_mistake_is_named(tmp_path):
    project = make_project(tmp_path, train_py(1.0), [{"write": {"train.py": train_py(0.9)}}])
    old = project / ".autoresearch"
    old.mkdir()
    (old / "doit.sqlite3").write_bytes(b"SQLite format 3\0")
    subprocess.run(["git", "add", "-f", ".autoresearch"], cwd=project, check=True,
                   env=environment(tmp_path))
    subprocess.run(["git", "commit", "-qm", "oops"], cwd=project, check=True,
                   env=environment(tmp_path))
    done = cli(project, "loop", "-n", "1")
    assert done.returncode == 0, done.stderr
    assert ("note: .autoresearch/ is committed in this repository (the state of an earlier "
            "autoresearch); it is not used any more: git rm -r --cached .autoresearch") \
        in done.stdout
    assert json.loads((project / ".claude/logs/autoresearch.jsonl").read_text()
                      .splitlines()[-1])["action"] == "session_end"
