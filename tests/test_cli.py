"""autoresearch.cli and autoresearch.tasks: help, unknown commands, ``init`` and the doit
tasks it exposes (``doit list``, ``doit -f PROJECT/dodo.py config``)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoresearch import __version__
from autoresearch.cli import main
from autoresearch.config import SCHEMA
from autoresearch.setup import DODO_LINE
from autoresearch.tasks import TASK_NAMES

DOIT = Path(sys.executable).parent / "doit"
COMMANDS = ", ".join(TASK_NAMES)


def doit(args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PATH": f"{DOIT.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(DOIT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)
    return done.returncode, done.stdout, done.stderr


# -- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], []])
def test_help_lists_every_command(args, run_cli, tmp_path):
    code, out, err = run_cli(args, tmp_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "usage: autoresearch <command> [options]"
    for name in TASK_NAMES:
        assert any(line.startswith(f"  {name} ") and len(line.split()) > 3 for line in lines), name
    assert "Exit codes are in README.md." in out


def test_version(run_cli, tmp_path):
    assert run_cli(["--version"], tmp_path) == (0, f"autoresearch {__version__}\n", "")


def test_loop_help_lists_its_options_and_every_config_key(run_cli, tmp_path):
    code, out, err = run_cli(["loop", "--help"], tmp_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == [
        "usage: autoresearch loop [options]", "",
        "Run the experiment loop: propose, commit, measure, keep or reset, log; "
        "forever or N times."]
    options = [line.split()[0:2] for line in lines[4:]]
    assert ["-n,", "--iterations"] in options
    assert ["--tag", "VALUE"] in options
    assert ["-q,", "--quiet"] in options
    for key in SCHEMA:
        assert any(key.flag in option for option in options), key.flag
    assert not (tmp_path / ".autoresearch").exists()  # help runs nothing


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_command_has_help(name, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main([name, "--help"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"usage: autoresearch {name} [options]")
    assert len(out.splitlines()[2]) > 20  # the command's one-line description


def test_help_into_a_closed_pipe_is_not_a_traceback(monkeypatch, tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return write_end

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    try:
        assert main(["loop", "--help"]) == 141  # like SIGPIPE: the reader went away
    finally:
        os.close(write_end)


# -- unknown commands and options ------------------------------------------------------------


@pytest.mark.parametrize(("command", "suggestion"), [
    ("setpu", "did you mean 'setup'? "),
    ("lop", "did you mean 'loop'? "),
    ("reslts", "did you mean 'results'? "),
    ("frobnicate", ""),
])
def test_unknown_command(command, suggestion, run_cli, tmp_path):
    assert run_cli([command], tmp_path) == (
        2, "", f"autoresearch: error: unknown command '{command}'; {suggestion}"
               f"commands: {COMMANDS}\n")


def test_unknown_option_of_a_command(run_cli, tmp_path):
    assert run_cli(["setup", "--resum"], tmp_path) == (
        2, "", "autoresearch: error: unknown option '--resum' for 'setup'; did you mean "
               "'--resume'? see 'autoresearch setup --help'\n")
    assert run_cli(["setup", "--resume=yes"], tmp_path) == (
        2, "", "autoresearch: error: option --resume takes no value\n")
    assert run_cli(["setup", "--calibrate", "lots"], tmp_path) == (
        2, "", "autoresearch: error: option --calibrate = 'lots' must be a whole number\n")


def test_options_accept_both_spellings(ml_project, show_config):
    project = ml_project()
    assert show_config(project, "--repeats=3")["repeats"] == ("3", "--repeats")
    assert show_config(project, "--repeats", "3")["repeats"] == ("3", "--repeats")


# -- init and doit ---------------------------------------------------------------------------


def test_init_writes_the_one_line_dodo(ml_project, run_cli):
    project = ml_project()
    assert run_cli(["init"], project) == (
        0, f"wrote {project / 'dodo.py'}: 'doit loop', 'doit setup' and 'doit results' now "
           "work here\n", "")
    assert (project / "dodo.py").read_text() == DODO_LINE
    assert len(DODO_LINE.splitlines()) == 1

    assert run_cli(["init"], project) == (
        0, f"{project / 'dodo.py'} already imports the autoresearch tasks; nothing changed\n", "")
    assert (project / "dodo.py").read_text() == DODO_LINE


def test_init_leaves_a_foreign_dodo_alone(ml_project, run_cli):
    project = ml_project()
    (project / "dodo.py").write_text("def task_hello():\n    return {'actions': ['echo hi']}\n")
    assert run_cli(["init"], project) == (
        2, "", f"autoresearch: error: {project / 'dodo.py'} exists and does not import "
               f"autoresearch.tasks; add the line: {DODO_LINE.strip()}\n")
    assert "task_hello" in (project / "dodo.py").read_text()


def test_doit_list_shows_the_tasks(ml_project, run_cli):
    project = ml_project()
    assert run_cli(["init"], project)[0] == 0
    code, out, err = doit(["list"], project)
    assert (code, err) == (0, "")
    listed = {line.split()[0]: line for line in out.splitlines()}
    assert {"loop", "setup", "results"} <= set(listed)
    assert set(listed) == set(TASK_NAMES) | {"experiment"}
    assert listed["setup"].split(None, 1)[1].startswith("Create the autoresearch/<tag> branch")


def test_doit_runs_a_project_from_elsewhere(ml_project, run_cli, tmp_path):
    project = ml_project()
    assert run_cli(["init"], project)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # doit -f names the dodo file; the tasks then run in its directory (doit's default cwd).
    for args in (["-f", str(project / "dodo.py"), "config"],
                 ["-f", str(project / "dodo.py"), "-d", str(project), "config"]):
        code, out, err = doit(args, elsewhere)
        assert (code, err) == (0, ""), err
        assert out.splitlines()[0] == f"# project: {project}"
        assert "target_file = train.py (recipe ml (ml.yaml))" in [
            " ".join(line.split()) for line in out.splitlines()]
    assert list(elsewhere.iterdir()) == []


def test_doit_reports_a_config_error_in_one_line(ml_project, run_cli):
    project = ml_project()
    assert run_cli(["init"], project)[0] == 0
    (project / "autoresearch.yaml").write_text("repeats: 0\n")
    code, out, err = doit(["config"], project)
    assert code == 2  # the same exit code as autoresearch config
    assert out == ""
    assert err == (f"autoresearch: error: {project}/autoresearch.yaml:1: repeats = '0' must be "
                   "at least 1\n")


def test_doit_setup_works_like_autoresearch_setup(ml_project, run_cli, git):
    project = ml_project(git=True)
    assert run_cli(["init"], project)[0] == 0
    git(project, "add", "dodo.py")
    git(project, "commit", "--quiet", "--message", "doit tasks")
    code, out, err = doit(["setup", "--tag", "via-doit"], project)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("created branch autoresearch/via-doit at ")
    assert lines[1] == "baseline val_bpb: 1.000000"
    assert lines[2].startswith("setup via-doit: created branch autoresearch/via-doit;")
    assert git(project, "branch", "--show-current") == "main"  # the user's tree stays put
    assert git(project, "rev-parse", "autoresearch/via-doit") == git(project, "rev-parse",
                                                                       "HEAD")
