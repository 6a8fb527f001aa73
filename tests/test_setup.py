"""``autoresearch setup``: preconditions, the branch, results.tsv, logs, git excludes, the
baseline, idempotence and the pre-commit hook, in real temporary git repositories."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from autoresearch.hooks import CHAINED, MARKER
from autoresearch.setup import EXCLUDES, default_tag

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
HEADER = "commit\tmetric\tvalue\tstatus\tdescription\n"
EVENTS = Path(".claude/logs/autoresearch.jsonl")
FIRST_SETUP = ("created branch autoresearch/{tag}; results.tsv; .claude/logs/; "
               f".git/info/exclude ({', '.join(EXCLUDES)}); pre-commit hook; baseline measured")


@pytest.fixture
def project(ml_project) -> Path:
    """A committed ML project whose train.py prints ``val_bpb: 1.234500``."""
    return ml_project(git=True, value=1.2345)


def setup_ok(run_cli, project: Path, *args: str) -> str:
    code, out, err = run_cli(["setup", *args], project)
    assert (code, err) == (0, ""), err
    return out


def branches(git, project: Path) -> list[str]:
    return git(project, "branch", "--format=%(refname:short)").splitlines()


def events(project: Path) -> list[dict]:
    return [json.loads(line) for line in (project / EVENTS).read_text().splitlines()]


# -- preconditions ---------------------------------------------------------------------------


def test_outside_a_git_repository(ml_project, run_cli):
    project = ml_project()
    assert run_cli(["setup"], project) == (
        3, "", f"autoresearch: error: {project} is not inside a git repository: run 'git init' "
               "there and commit your project first\n")
    assert sorted(p.name for p in project.iterdir()) == [".autoresearch", "prepare.py", "train.py"]


def test_a_repository_without_commits(git_repo, ml_project, run_cli):
    ml_project(git_repo)
    assert run_cli(["setup"], git_repo) == (
        3, "", f"autoresearch: error: {git_repo} has no commits yet: commit your project first "
               "(git add -A && git commit -m 'start')\n")


def test_dirty_tracked_files_are_listed(project, run_cli, git):
    (project / "train.py").write_text("print('val_bpb: 0.5')\n")
    (project / "prepare.py").write_text("# edited\n")
    (project / "notes.txt").write_text("untracked files are fine\n")
    assert run_cli(["setup"], project) == (
        3, "", "autoresearch: error: uncommitted changes to tracked files: prepare.py, train.py; "
               "commit or stash them first\n")
    assert branches(git, project) == ["main"]


def test_a_config_error_changes_nothing(project, run_cli, git):
    (project / "autoresearch.yaml").write_text("repeats: 0\n")
    assert run_cli(["setup", "--tag", "x"], project) == (
        2, "", f"autoresearch: error: {project}/autoresearch.yaml:1: repeats = '0' must be at "
               "least 1\n")
    assert branches(git, project) == ["main"]
    assert not (project / "results.tsv").exists()


@pytest.mark.parametrize("tag", ["has space", "-dash-first", "a..b", "x.lock", "ünï"])
def test_an_invalid_tag(project, run_cli, git, tag):
    assert run_cli(["setup", "--tag", tag], project) == (
        2, "", f"autoresearch: error: --tag {tag!r} is not a valid tag; use letters, digits, "
               "'.', '_' or '-' (e.g. nov25 or lr-sweep)\n")
    assert branches(git, project) == ["main"]


# -- what setup creates ------------------------------------------------------------------------


def test_default_tag_is_month_and_day():
    assert default_tag(datetime(2025, 11, 25, 23, 59)) == "nov25"
    assert default_tag(datetime(2026, 3, 4)) == "mar4"


def test_setup_with_the_default_tag(project, run_cli, git):
    before = datetime.now()
    out = setup_ok(run_cli, project)
    after = datetime.now()
    tags = {f"{MONTHS[d.month - 1]}{d.day}" for d in (before, after)}
    branch = git(project, "branch", "--show-current")
    assert branch.removeprefix("autoresearch/") in tags
    tag = branch.removeprefix("autoresearch/")
    assert out == f"baseline val_bpb: 1.234500\nsetup {tag}: {FIRST_SETUP.format(tag=tag)}\n"


def test_setup_creates_branch_files_excludes_and_baseline(project, run_cli, git):
    (project / ".gitignore").write_text("__pycache__/\n")
    git(project, "add", ".gitignore")
    git(project, "commit", "--quiet", "--message", "ignore caches")
    head = git(project, "rev-parse", "HEAD")

    out = setup_ok(run_cli, project, "--tag", "lr-sweep")

    first = FIRST_SETUP.format(tag="lr-sweep")
    assert out == f"baseline val_bpb: 1.234500\nsetup lr-sweep: {first}\n"
    assert git(project, "branch", "--show-current") == "autoresearch/lr-sweep"
    assert git(project, "rev-parse", "HEAD") == head  # no commit of its own
    assert branches(git, project) == ["autoresearch/lr-sweep", "main"]
    assert (project / "results.tsv").read_text() == (
        HEADER + f"{head[:7]}\tval_bpb\t1.234500\tkeep\tbaseline\n")
    assert (project / ".claude" / "logs").is_dir()
    exclude = (project / ".git" / "info" / "exclude").read_text().splitlines()
    assert {"results.tsv", "run.log", ".autoresearch/", ".claude/logs/"} <= set(exclude)
    assert (project / ".gitignore").read_text() == "__pycache__/\n"
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""

    [done] = [e for e in events(project) if e["action"] == "experiment_done"]
    details = done["details"]
    assert (done["tool"], done["status"]) == ("autoresearch", "success")
    assert (details["status"], details["metric"], details["value"]) == ("keep", "val_bpb", 1.2345)
    assert (details["prev"], details["delta"]) == (None, None)
    assert (details["commit"], details["tag"], details["description"]) == (
        head[:7], "lr-sweep", "baseline")


def test_setup_does_not_create_a_gitignore(project, run_cli):
    setup_ok(run_cli, project, "--tag", "t")
    assert not (project / ".gitignore").exists()


def test_a_second_setup_changes_nothing_and_says_so(project, run_cli, git):
    setup_ok(run_cli, project, "--tag", "t1")
    watched = ["results.tsv", ".git/info/exclude", ".git/hooks/pre-commit", str(EVENTS)]
    before = {name: (project / name).read_bytes() for name in watched}
    refs = git(project, "show-ref")

    out = setup_ok(run_cli, project, "--tag", "t1")

    assert out == "setup t1: already set up on branch autoresearch/t1; nothing changed\n"
    assert {name: (project / name).read_bytes() for name in watched} == before
    assert git(project, "show-ref") == refs
    assert git(project, "branch", "--show-current") == "autoresearch/t1"


def test_an_existing_branch_needs_resume(project, run_cli, git):
    setup_ok(run_cli, project, "--tag", "t1")
    results = (project / "results.tsv").read_bytes()
    git(project, "checkout", "--quiet", "main")

    assert run_cli(["setup", "--tag", "t1"], project) == (
        3, "", "autoresearch: error: branch autoresearch/t1 already exists: pass --resume to "
               "continue it, or --tag NAME for a new one\n")
    assert git(project, "branch", "--show-current") == "main"

    out = setup_ok(run_cli, project, "--tag", "t1", "--resume")
    assert out == "setup t1: checked out autoresearch/t1\n"  # the baseline is not measured again
    assert git(project, "branch", "--show-current") == "autoresearch/t1"
    assert (project / "results.tsv").read_bytes() == results


# -- the pre-commit hook ---------------------------------------------------------------------


def commit(git, project: Path, path: str, text: str) -> tuple[bool, str]:
    """Change ``path`` and try to commit it: (committed?, git's stderr)."""
    (project / path).write_text(text)
    git(project, "add", path)
    done = subprocess.run(["git", "commit", "--quiet", "--message", f"change {path}"],
                          cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        git(project, "reset", "--quiet", "--hard")
    return done.returncode == 0, done.stderr


def test_the_hook_allows_the_target_and_refuses_other_files(project, run_cli, git):
    setup_ok(run_cli, project, "--tag", "t1")
    hook = project / ".git" / "hooks" / "pre-commit"
    assert MARKER in hook.read_text()
    assert hook.stat().st_mode & stat.S_IXUSR

    assert commit(git, project, "prepare.py", "# changed\n") == (
        False, "autoresearch: on autoresearch/t1 only the target file(s) may be committed; "
               "refused:\nprepare.py\n")
    assert commit(git, project, "notes.txt", "new file\n")[0] is False
    assert commit(git, project, "train.py", "print('val_bpb: 1.0')\n") == (True, "")
    assert git(project, "log", "-1", "--format=%s") == "change train.py"

    git(project, "checkout", "--quiet", "main")  # other branches are not guarded
    assert commit(git, project, "prepare.py", "# changed on main\n") == (True, "")


def test_the_hook_chains_to_an_existing_hook(project, run_cli, git):
    hooks = project / ".git" / "hooks"
    old = hooks / "pre-commit"
    old.write_text('#!/bin/sh\necho ran >> "$(git rev-parse --git-dir)/old-hook-ran"\n'
                   'test ! -e "$(git rev-parse --git-dir)/old-hook-fails"\n')
    old.chmod(0o755)
    setup_ok(run_cli, project, "--tag", "t1")
    assert (hooks / CHAINED).read_text().startswith("#!/bin/sh\necho ran")
    ran = project / ".git" / "old-hook-ran"

    assert commit(git, project, "train.py", "print('val_bpb: 1.0')\n") == (True, "")
    assert ran.read_text() == "ran\n"
    (project / ".git" / "old-hook-fails").touch()
    assert commit(git, project, "train.py", "print('val_bpb: 0.9')\n") == (False, "")
    assert ran.read_text() == "ran\nran\n"

    setup_ok(run_cli, project, "--tag", "t1")  # a second setup does not chain the hook to itself
    assert MARKER not in (hooks / CHAINED).read_text()


def test_the_hook_goes_where_core_hookspath_points(project, run_cli, git, tmp_path):
    shared = tmp_path / "shared-hooks"
    git(project, "config", "core.hooksPath", str(shared))
    setup_ok(run_cli, project, "--tag", "t1")
    assert MARKER in (shared / "pre-commit").read_text()
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert commit(git, project, "prepare.py", "# changed\n")[0] is False
    assert commit(git, project, "train.py", "print('val_bpb: 1.0')\n") == (True, "")


def test_a_hookspath_inside_the_work_tree_is_left_alone(project, run_cli, git):
    git(project, "config", "core.hooksPath", "githooks")
    code, out, err = run_cli(["setup", "--tag", "t1"], project)
    assert code == 0
    assert err == (f"autoresearch: warning: core.hooksPath {project / 'githooks'} is inside the "
                   "work tree; not installing the pre-commit hook there (the tool still checks "
                   "every change itself)\n")
    assert not (project / "githooks").exists()
    assert "pre-commit hook" not in out


def test_setup_from_a_directory_without_a_project_is_refused(project, run_cli, git):
    # The config is read from the current directory: a subdirectory holding no project.
    sub = project / "docs"
    sub.mkdir()
    code, out, err = run_cli(["setup", "--tag", "t1"], sub)
    assert (code, out) == (2, "")
    assert err.startswith(f"autoresearch: error: {sub}: no project type detected")
    assert branches(git, project) == ["main"]


def test_the_environment_is_pinned(project, git):
    assert git(project, "log", "-1", "--format=%an <%ae>") == "Test Author <author@example.com>"
    assert os.environ["GIT_CONFIG_GLOBAL"] == os.devnull
