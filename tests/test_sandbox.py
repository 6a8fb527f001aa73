"""The sandbox levels, and what an agent under real bubblewrap can and cannot do."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import init_repo, parse_config
from helpers import cli, experiments, git, gone, make_project, wait_for, wait_until

from autoresearch import agent_home, config, sandbox, state
from autoresearch.cross_back import read_back
from autoresearch.errors import ConfigError, EnvironmentProblem
from autoresearch.project_copy import committed, make_copy, remove_copy
from autoresearch.runner import run

LEVEL, WHY = sandbox.probe()
PY = os.path.realpath(sys.executable)  # a venv under /tmp would be hidden by the private /tmp
strict_only = pytest.mark.skipif(LEVEL != "strict", reason=f"bubblewrap cannot run here: {WHY}")

# Run in the copy under the sandbox: tries each access named on the command line and
# writes what happened (the text read, "ok" for a write, or the errno name) to report.json.
PROBE = r'''
import errno, json, os, sys
report = {}
for check in sys.argv[1:]:
    kind, path = check.split(":", 1)
    try:
        if kind == "read":
            report[check] = open(path).read()
        elif kind == "list":
            report[check] = sorted(os.listdir(path))
        else:
            with open(path, "w") as handle:
                handle.write("written by the agent\n")
            report[check] = "ok"
    except OSError as exc:
        report[check] = errno.errorcode[exc.errno]
with open("report.json", "w") as handle:
    json.dump(report, handle)
'''
# Starts a process in a session of its own that outlives this one, and waits until it runs.
DAEMON = r'''
import os, subprocess, sys, time
marker, alive, linger = sys.argv[1], sys.argv[2], sys.argv[3] == "linger"
subprocess.Popen([sys.executable, "-c", "import sys, time; open(sys.argv[1], 'w').write('up');"
                  " time.sleep(600)", alive, marker], start_new_session=True)
while not os.path.exists(alive):
    time.sleep(0.01)
while linger:
    time.sleep(1)
'''


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside /tmp: the strict level gives the agent a private /tmp, so a
    repository in pytest's tmp_path would be invisible whatever ``wrap`` hides."""
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("/var/tmp is not writable: the strict tests need a directory outside /tmp")
    if PY.startswith("/tmp/"):
        pytest.skip(f"the interpreter {PY} is under /tmp, which the agent cannot see")
    path = Path(tempfile.mkdtemp(prefix="autoresearch-test-", dir="/var/tmp"))
    yield path
    remove_copy(path)


@pytest.fixture
def project(outside: Path, git_identity: None) -> state.Layout:
    """A committed project in ``outside/repo`` with a ledger in its state directory."""
    repo = init_repo(outside / "repo")
    (repo / "train.py").write_text("VALUE = 1\n")
    init_repo(repo, commit=True)
    layout = state.locate(repo)
    layout.state.mkdir(parents=True)
    layout.ledger.write_text('{"status": "keep"}\n')
    (outside / "tools").mkdir()
    (outside / "tools/probe.py").write_text(PROBE)
    (outside / "tools/daemon.py").write_text(DAEMON)
    return layout


def hidden(layout: state.Layout) -> list[Path]:
    return [layout.repo_root, layout.common_dir, layout.state]


def probe_in(layout: state.Layout, copy: Path, *checks: str, writable=()) -> dict:
    argv = sandbox.wrap([PY, str(layout.repo_root.parent / "tools/probe.py"), *checks],
                        level="strict", copy=copy, writable=writable, hidden=hidden(layout))
    done = subprocess.run(argv, cwd=copy, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads((copy / "report.json").read_text())


# -- levels --------------------------------------------------------------------------------

def fake_bwrap(directory: Path, script: str) -> None:
    directory.mkdir()
    (directory / "bwrap").write_text(f"#!/bin/sh\n{script}\n")
    (directory / "bwrap").chmod(0o755)


def test_an_unusable_bwrap_falls_back_to_basic_by_default(tmp_path, monkeypatch):
    fake_bwrap(tmp_path / "bin", "echo 'bwrap: setting up uid map: Permission denied' >&2\n"
                                 "exit 1")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    level, why = sandbox.probe()
    assert level == "basic"
    assert "setting up uid map: Permission denied" in why and "apt-get install bubblewrap" in why


def test_an_explicit_strict_where_bwrap_fails_is_an_environment_problem(tmp_path, monkeypatch):
    fake_bwrap(tmp_path / "bin", "echo 'bwrap: No permissions to creating new namespace' >&2\n"
                                 "exit 1")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(EnvironmentProblem) as caught:
        sandbox.probe("strict")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("sandbox: strict needs bubblewrap, but a trial run of ")
    assert "No permissions to creating new namespace" in message
    assert "apt-get install bubblewrap" in message and "sandbox: basic" in message


def test_an_explicit_strict_without_bwrap_names_the_package(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EnvironmentProblem, match=r"'bwrap' is not on PATH; install it "
                                                 r"\(apt-get install bubblewrap\)"):
        sandbox.probe("strict")
    assert sandbox.probe()[0] == "basic"
    assert sandbox.probe("basic")[0] == "basic"


@strict_only
def test_strict_is_the_default_where_bubblewrap_works():
    level, why = sandbox.probe()
    assert level == "strict" and "works" in why
    assert sandbox.probe("strict")[0] == "strict"


def test_the_sandbox_key_accepts_the_two_levels(ml_project, tmp_path):
    project = ml_project(git=True)
    (project / "autoresearch.yaml").write_text("sandbox: strict\n")
    assert config.resolve(project).sandbox == "strict"
    assert config.resolve(project, {"sandbox": "basic"}).sandbox == "basic"
    (project / "autoresearch.yaml").write_text("sandbox: loose\n")
    with pytest.raises(ConfigError, match=r"autoresearch.yaml:1: sandbox = 'loose' is not "
                                          r"accepted; accepted: strict, basic"):
        config.resolve(project)


# -- the command line ----------------------------------------------------------------------

def test_autoresearch_config_shows_the_level_in_force_and_why(ml_project, tmp_path, monkeypatch):
    monkeypatch.delenv("AUTORESEARCH_SANDBOX")  # the suite's default: basic
    project = ml_project(git=True)
    shown = parse_config(config.describe(config.resolve(project)))["sandbox"]
    assert shown == (LEVEL, f"default: {WHY}")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    shown = parse_config(config.describe(config.resolve(project)))["sandbox"]
    assert shown[0] == "basic" and "'bwrap' is not on PATH" in shown[1]
    (project / "autoresearch.yaml").write_text("sandbox: basic\n")
    shown = parse_config(config.describe(config.resolve(project)))["sandbox"]
    assert shown == ("basic", "autoresearch.yaml:1: the agent runs unconfined in its copy")
    (project / "autoresearch.yaml").write_text("sandbox: strict\n")
    with pytest.raises(EnvironmentProblem, match="apt-get install bubblewrap"):
        config.describe(config.resolve(project))


def test_basic_leaves_the_command_as_it_is(tmp_path):
    assert sandbox.wrap(["claude", "-p", "hi"], level="basic", copy=tmp_path) == [
        "claude", "-p", "hi"]


def test_nested_paths_are_mounted_parents_first(tmp_path):
    repo = tmp_path / "repo"
    copy = repo / ".git/autoresearch/root/agent/copy"
    home = repo / ".git/autoresearch/root/agent/home"
    for path in (copy, home):
        path.mkdir(parents=True)
    argv = sandbox.wrap(["true"], level="strict", copy=copy, writable=[home],
                        hidden=[repo / ".git/autoresearch/root", repo, repo / ".git"])
    mounts = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)
              if argv[i] in ("--bind", "--tmpfs")]
    order = [path for _, path in mounts]
    assert order.index("/tmp") < order.index(str(repo)) < order.index(str(repo / ".git"))
    assert order.index(str(repo / ".git")) < order.index(str(repo / ".git/autoresearch/root"))
    assert order.index(str(repo / ".git/autoresearch/root")) < order.index(str(copy))
    assert ("--bind", str(home)) in mounts
    assert argv[argv.index("--chdir") + 1] == str(copy)
    assert argv[-2:] == ["--", "true"]
    assert "--unshare-net" not in argv


def test_paths_are_resolved_and_escape_sockets_hidden(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "repo")
    argv = sandbox.wrap(["true"], level="strict", copy=tmp_path / "repo",
                        hidden=[tmp_path / "link" / ".."])
    assert argv[argv.index("--chdir") + 1] == str((tmp_path / "repo").resolve())
    assert str(tmp_path.resolve()) in argv
    mounted = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--tmpfs"}
    mounted |= {argv[i + 2] for i, arg in enumerate(argv) if arg == "--dev-bind"}
    present = {str(Path(p).resolve()) for p in sandbox.ESCAPE_SOCKETS if os.path.lexists(p)}
    assert present <= mounted


def test_a_path_both_writable_and_hidden_is_refused(tmp_path):
    with pytest.raises(ValueError, match="both writable and hidden"):
        sandbox.wrap(["true"], level="strict", copy=tmp_path, hidden=[tmp_path])


# -- under real bubblewrap -----------------------------------------------------------------

@strict_only
def test_the_agent_cannot_see_the_repository_or_the_state_and_writes_only_its_own(
        project, outside):
    copy = make_copy(project.repo_root, "HEAD", "", project.agent_dir / "copy")
    home = project.agent_dir / "home"
    home.mkdir()
    (outside / "elsewhere.txt").write_text("the user's\n")
    report = probe_in(project, copy,
                      f"read:{project.repo_root / '.git/HEAD'}",
                      f"read:{project.ledger}",
                      f"read:{project.repo_root / 'train.py'}",
                      f"list:{project.repo_root}",
                      f"write:{copy / 'train.py'}",
                      f"write:{home / 'settings.json'}",
                      f"write:{outside / 'elsewhere.txt'}",
                      f"write:{project.repo_root / 'train.py'}",
                      f"write:{outside / 'new.txt'}",
                      "write:/tmp/scratch.txt",
                      writable=[home])
    assert report == {
        f"read:{project.repo_root / '.git/HEAD'}": "ENOENT",
        f"read:{project.ledger}": "ENOENT",
        f"read:{project.repo_root / 'train.py'}": "ENOENT",
        f"list:{project.repo_root}": [".git"],  # only the way down to the copy
        f"write:{copy / 'train.py'}": "ok",
        f"write:{home / 'settings.json'}": "ok",
        f"write:{outside / 'elsewhere.txt'}": "EROFS",
        f"write:{project.repo_root / 'train.py'}": "EROFS",
        f"write:{outside / 'new.txt'}": "EROFS",
        "write:/tmp/scratch.txt": "ok",
    }
    assert (copy / "train.py").read_text() == "written by the agent\n"
    assert (project.repo_root / "train.py").read_text() == "VALUE = 1\n"
    assert (outside / "elsewhere.txt").read_text() == "the user's\n"
    assert not Path("/tmp/scratch.txt").exists()


@strict_only
def test_a_copy_in_tmp_stays_reachable_while_the_repository_is_hidden(project, tmp_path):
    copy = make_copy(project.repo_root, "HEAD", "", tmp_path / "copy")
    report = probe_in(project, copy, f"read:{copy / 'train.py'}",
                      f"read:{project.repo_root / 'train.py'}", f"write:{copy / 'new.py'}")
    assert list(report.values()) == ["VALUE = 1\n", "ENOENT", "ok"]


@strict_only
def test_a_hidden_file_reads_as_empty(project, tmp_path):
    secret = project.repo_root.parent / "token.txt"
    secret.write_text("secret\n")
    copy = tmp_path / "copy"
    copy.mkdir()
    argv = sandbox.wrap([PY, "-c", f"print(repr(open({str(secret)!r}).read()))"],
                        level="strict", copy=copy, hidden=[secret])
    assert subprocess.run(argv, capture_output=True, text=True, check=True).stdout == "''\n"


def with_marker(marker: str) -> list[psutil.Process]:
    """The daemons (their command line ends with ``marker``) still running."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if (proc.info["cmdline"] or [""])[-1] == marker and not gone(proc.pid):
            found.append(proc)
    return found


def daemon_call(layout: state.Layout, name: str, *, level: str = "strict",
                linger: bool = False) -> tuple[Path, str, list[str]]:
    """(copy, marker, argv) of an agent that starts a daemon whose command line ends with
    the marker, and exits (or, with ``linger``, stays) once it runs."""
    copy = make_copy(layout.repo_root, "HEAD", "", layout.agent_dir / "copy")
    marker = f"autoresearch-daemon-{os.getpid()}-{name}"
    script = layout.repo_root.parent / "tools/daemon.py"
    argv = sandbox.wrap([PY, str(script), marker, str(copy / "alive"),
                         "linger" if linger else "exit"],
                        level=level, copy=copy, hidden=hidden(layout))
    return copy, marker, argv


@strict_only
def test_a_background_process_dies_with_the_call(project):
    copy, marker, argv = daemon_call(project, "strict")
    subprocess.run(argv, cwd=copy, check=True)
    assert (copy / "alive").read_text() == "up"
    wait_until(lambda: not with_marker(marker), None, "the sandbox's daemon is gone")


def test_unsealed_the_same_background_process_survives(project):
    copy, marker, argv = daemon_call(project, "basic", level="basic")
    subprocess.run(argv, cwd=copy, check=True)
    survivors = with_marker(marker)
    for proc in survivors:
        proc.kill()
    assert survivors, "the control case: without bubblewrap the daemon outlives the call"


@strict_only
def test_every_process_of_the_call_dies_when_its_caller_is_killed(project):
    copy, marker, argv = daemon_call(project, "killed", linger=True)
    caller = subprocess.Popen([PY, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
                               *argv], cwd=copy)
    wait_for(copy / "alive", caller)
    assert len(with_marker(marker)) == 1
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    wait_until(lambda: not with_marker(marker), None, "the sandbox's daemon is gone")


@strict_only
def test_the_runner_runs_a_sealed_agent_and_reports_its_exit(project, tmp_path):
    copy = make_copy(project.repo_root, "HEAD", "", project.agent_dir / "copy")
    script = ("import pathlib; pathlib.Path('train.py').write_text('VALUE = 2\\n');"
              "print('edited'); raise SystemExit(3)")
    argv = sandbox.wrap([PY, "-c", script], level="strict", copy=copy, hidden=hidden(project))
    result = run(argv, cwd=copy, timeout=120, stdout_path=tmp_path / "out.log",
                 env=sandbox.copy_environment(copy))
    assert result.exit_code == 3 and not result.timed_out
    assert (tmp_path / "out.log").read_text() == "edited\n"
    assert (copy / "train.py").read_text() == "VALUE = 2\n"


def test_git_in_a_copy_inside_the_git_directory_does_not_find_the_real_repository(project):
    copy = make_copy(project.repo_root, "HEAD", "", project.agent_dir / "copy")
    env = {**os.environ, **sandbox.copy_environment(copy)}
    done = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=copy, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "not a git repository" in done.stderr
    unset = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=copy, capture_output=True,
                           text=True, check=False)
    assert unset.returncode == 0, "the control case: without the ceiling git finds .git"


# The whole call as a worker makes it: a claude-like agent that also plants a hook.
SEALED_AGENT = r'''
import json, os, pathlib
config = pathlib.Path(os.environ["CLAUDE_CONFIG_DIR"])
(config / "settings.json").write_text('{"hooks": "planted"}')
(config / ".credentials.json").write_text('{"token": "refreshed"}')
try:
    (pathlib.Path.home() / ".claude/settings.json").write_text('{"hooks": "planted"}')
    print("wrote the real settings")
except OSError as exc:
    print(os.strerror(exc.errno))
pathlib.Path("train.py").write_text("VALUE = 2\n")
pathlib.Path("helper.py").write_text("sneaked = True\n")
'''


@strict_only
def test_a_sealed_call_carries_back_the_target_and_the_refreshed_credential_only(
        project, outside):
    user_home = outside / "home"
    (user_home / ".claude").mkdir(parents=True)
    (user_home / ".claude/settings.json").write_text('{"model": "sonnet"}')
    (user_home / ".claude/.credentials.json").write_text('{"token": "old"}')
    environ = {**os.environ, "HOME": str(user_home)}
    copy = make_copy(project.repo_root, "HEAD", "", project.agent_dir / "copy")
    home = agent_home.prepare("claude", project.agent_dir / "home", environ)
    (outside / "tools/agent.py").write_text(SEALED_AGENT)
    argv = sandbox.wrap([PY, str(outside / "tools/agent.py")], level="strict", copy=copy,
                        writable=[home.path], hidden=hidden(project))
    result = run(argv, cwd=copy, timeout=120, stdout_path=outside / "agent.log",
                 env={"HOME": str(user_home), **home.env, **sandbox.copy_environment(copy)})
    assert result.exit_code == 0, (outside / "agent.log").read_text()
    assert (outside / "agent.log").read_text() == "Read-only file system\n"
    back = read_back(copy, ["train.py"], committed(project.repo_root, "HEAD", ""))
    assert (back.contents, back.changed, back.ignored) == (
        {"train.py": b"VALUE = 2\n"}, True, ("helper.py",))
    assert agent_home.write_back(home) == [user_home / ".claude/.credentials.json"]
    assert (user_home / ".claude/.credentials.json").read_text() == '{"token": "refreshed"}'
    assert (user_home / ".claude/settings.json").read_text() == '{"model": "sonnet"}'


# -- sandbox_run: strict: the experiment's run sealed too ------------------------------------

RUN_PROBE = """\
import os, pathlib
git_dir = pathlib.Path(os.environ["PROBE_GIT_DIR"])
print("git dir visible:", (git_dir / "HEAD").exists())
try:
    (pathlib.Path(os.environ["PROBE_PROJECT"]) / "escaped.txt").write_text("x")
    print("project writable: True")
except OSError:
    print("project writable: False")
pathlib.Path("made-by-the-run.txt").write_text("ok")
print("tree writable: True")
print("val_bpb: 1.0")
"""


CHECK_PROBE = """\
import os, pathlib, sys
sys.exit(1 if pathlib.Path(os.environ["PROBE_GIT_DIR"], "HEAD").exists() else 0)
"""


@strict_only
def test_a_strictly_sealed_run_reaches_neither_the_git_directory_nor_the_project(outside):
    plan = [{"write": {"train.py": RUN_PROBE.replace("1.0", "0.5")}, "say": "better"}]
    project = make_project(outside, RUN_PROBE, plan, sandbox_run="strict",
                           run_command=f"{shlex.quote(PY)} train.py",
                           check_command=f"{shlex.quote(PY)} check.py")
    (project / "check.py").write_text(CHECK_PROBE)
    git(project, "add", "check.py")
    git(project, "commit", "-qm", "the check")
    probe = {"PROBE_GIT_DIR": str(project / ".git"), "PROBE_PROJECT": str(project)}
    done = cli(project, "setup", "--tag", "sealed", extra=probe)
    assert done.returncode == 0, done.stderr
    log = (project / "run.log").read_text()
    assert "git dir visible: False" in log
    assert "project writable: False" in log and not (project / "escaped.txt").exists()
    assert "tree writable: True" in log
    # check_command runs the candidate's code too: sealed the same way, so it passes
    done = cli(project, "loop", "--tag", "sealed", "-n", "1", extra=probe)
    assert done.returncode == 0, done.stderr
    assert [(e["status"], e["reason"]) for e in experiments(project)][-1] == ("keep",
                                                                               "improved")


def test_a_sealed_run_needs_the_local_runner(tmp_path):
    project = make_project(tmp_path, RUN_PROBE, sandbox_run="strict", runner="slurm")
    done = cli(project, "setup", "--tag", "sealed")
    assert done.returncode == 2
    assert "sandbox_run: strict seals a run on this machine; with runner 'slurm'" in done.stderr


def test_a_sealed_run_binds_the_hosts_devices_and_the_caches_that_exist(tmp_path):
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    argv = sandbox.wrap_run(["true"], tree=tmp_path, hidden=[tmp_path / "nothing"], home=home,
                            environ={})
    assert argv[argv.index("--dev-bind") + 1:argv.index("--dev-bind") + 3] == ["/dev", "/dev"]
    assert ["--bind", str((home / ".cache").resolve()), str((home / ".cache").resolve())] == \
        argv[argv.index(str((home / ".cache").resolve())) - 1:][:3]
    assert str(home / ".npm") not in argv  # only caches that exist
