"""``autoresearch setup``: preconditions, the branch, results.tsv, logs, git excludes, the
baseline, idempotence and the pre-commit hook, in real temporary git repositories."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from helpers import cli, git, make_project

from autoresearch.hooks import CHAINED, MARKER
from autoresearch.tags import EXCLUDES, default_tag

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
HEADER = "commit\tmetric\tvalue\tstatus\tdescription\n"
EVENTS = Path(".claude/logs/autoresearch.jsonl")
FIRST_SETUP = ("created branch autoresearch/{tag}; results.tsv; .claude/logs/; "
               f".git/info/exclude ({', '.join(EXCLUDES)}); baseline measured")


@pytest.fixture
def project(ml_project) -> Path:
    """A committed ML project whose train.py prints ``val_bpb: 1.234500``."""
    return ml_project(git=True, value=1.2345)


def setup_ok(run_cli, project: Path, *args: str) -> str:
    code, out, err = run_cli(["setup", *args], project)
    assert (code, err) == (0, ""), err
    return out


def created(tag: str, head: str) -> str:
    return (f"created branch autoresearch/{tag} at {head[:7]} (your tree stays on main; "
            f"'git switch autoresearch/{tag}' to follow along)\n")


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
    assert sorted(p.name for p in project.iterdir()) == ["prepare.py", "train.py"]


def test_a_repository_without_commits(git_repo, ml_project, run_cli):
    ml_project(git_repo)
    assert run_cli(["setup"], git_repo) == (
        3, "", f"autoresearch: error: {git_repo} has no commits yet: commit your project first "
               "(git add -A && git commit -m 'start')\n")


def test_uncommitted_edits_are_named_and_left_alone(project, run_cli, git):
    (project / "train.py").write_text("print('val_bpb: 0.5')\n")
    (project / "prepare.py").write_text("# edited\n")
    (project / "notes.txt").write_text("untracked files are fine\n")
    out = setup_ok(run_cli, project, "--tag", "dirty")
    assert ("note: uncommitted changes to prepare.py, train.py are not part of the experiment "
            "(it starts from the committed tree); your files are left as they are") in out
    assert "baseline val_bpb: 1.234500" in out  # the committed train.py, not the edit
    assert (project / "train.py").read_text() == "print('val_bpb: 0.5')\n"
    assert (project / "prepare.py").read_text() == "# edited\n"
    assert (project / "notes.txt").exists()
    assert branches(git, project) == ["autoresearch/dirty", "main"]


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
    [branch] = [b for b in branches(git, project) if b != "main"]
    assert branch.removeprefix("autoresearch/") in tags
    tag = branch.removeprefix("autoresearch/")
    head = git(project, "rev-parse", "HEAD")
    assert out == (created(tag, head) + "baseline val_bpb: 1.234500\n"
                   f"setup {tag}: {FIRST_SETUP.format(tag=tag)}\n")


def test_setup_creates_branch_files_excludes_and_baseline(project, run_cli, git):
    (project / ".gitignore").write_text("__pycache__/\n")
    git(project, "add", ".gitignore")
    git(project, "commit", "--quiet", "--message", "ignore caches")
    head = git(project, "rev-parse", "HEAD")

    out = setup_ok(run_cli, project, "--tag", "lr-sweep")

    first = FIRST_SETUP.format(tag="lr-sweep")
    assert out == (created("lr-sweep", head) + "baseline val_bpb: 1.234500\n"
                   f"setup lr-sweep: {first}\n")
    assert git(project, "branch", "--show-current") == "main"  # the user's tree stays put
    assert git(project, "rev-parse", "autoresearch/lr-sweep") == head  # no commit of its own
    assert git(project, "rev-parse", "refs/autoresearch/lr-sweep/best") == head
    assert branches(git, project) == ["autoresearch/lr-sweep", "main"]
    assert (project / "results.tsv").read_text() == (
        HEADER + f"{head[:7]}\tval_bpb\t1.234500\tkeep\tbaseline\n")
    assert (project / ".claude" / "logs").is_dir()
    exclude = (project / ".git" / "info" / "exclude").read_text().splitlines()
    assert {"results.tsv", "run.log", ".claude/logs/"} <= set(exclude)
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
    watched = ["results.tsv", ".git/info/exclude", str(EVENTS)]
    before = {name: (project / name).read_bytes() for name in watched}
    refs = git(project, "show-ref")

    out = setup_ok(run_cli, project, "--tag", "t1")

    assert out == "setup t1: already set up (autoresearch/t1); nothing changed\n"
    assert {name: (project / name).read_bytes() for name in watched} == before
    assert git(project, "show-ref") == refs


def test_an_existing_branch_of_another_tag_needs_resume(project, run_cli, git):
    setup_ok(run_cli, project, "--tag", "t1")
    setup_ok(run_cli, project, "--tag", "t2")
    results = (project / "results.tsv").read_bytes()

    assert run_cli(["setup", "--tag", "t1"], project) == (
        3, "", "autoresearch: error: branch autoresearch/t1 already exists: pass --resume to "
               "continue it, or --tag NAME for a new one\n")

    out = setup_ok(run_cli, project, "--tag", "t1", "--resume")
    assert out == "setup t1: already set up (autoresearch/t1); nothing changed\n"
    assert (project / "results.tsv").read_bytes() == results  # not measured again
    assert (project / ".git" / "autoresearch" / "root" / "tag").read_text() == "t1\n"


# -- no hook: the user commits what they like ---------------------------------------------------


def commit(git, project: Path, path: str, text: str) -> tuple[bool, str]:
    """Change ``path`` and try to commit it: (committed?, git's stderr)."""
    (project / path).write_text(text)
    git(project, "add", path)
    done = subprocess.run(["git", "commit", "--quiet", "--message", f"change {path}"],
                          cwd=project, capture_output=True, text=True)
    return done.returncode == 0, done.stderr


def test_the_user_can_commit_any_file_on_the_experiment_branch(project, run_cli, git):
    setup_ok(run_cli, project, "--tag", "t1")
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    git(project, "switch", "--quiet", "autoresearch/t1")
    assert commit(git, project, "program.md", "try a wider model\n") == (True, "")
    assert commit(git, project, "prepare.py", "# changed\n") == (True, "")


def test_the_hook_of_an_earlier_version_is_removed_and_the_chained_one_restored(
        project, run_cli, git):
    hooks = project / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / CHAINED).write_text("#!/bin/sh\nexit 0\n")
    (hooks / CHAINED).chmod(0o755)
    (hooks / "pre-commit").write_text(f"#!/bin/sh\n{MARKER} (installed by an earlier version)\n"
                                      "exit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    out = setup_ok(run_cli, project, "--tag", "t1")
    assert "removed the pre-commit hook an earlier autoresearch installed" in out
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
    assert not (hooks / CHAINED).exists()
    assert commit(git, project, "prepare.py", "# changed\n") == (True, "")


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


def test_every_command_runs_experiments_in_work_dir(tmp_path: Path):
    """work_dir (relative to the project) holds the worktrees of setup's baseline, measure and
    the loop alike (a cluster needs them on its shared filesystem)."""
    where = tmp_path / "cwd.log"
    train = (f"import os\nopen({str(where)!r}, 'a').write(os.getcwd() + '\\n')\n"
             "print('val_bpb: 1.0')\n")
    project = make_project(tmp_path, train, [{"write": {"train.py": train + "# v2\nX = 2\n"},
                                               "say": "x"}], work_dir="../shared-trees")
    assert cli(project, "setup", "--tag", "w").returncode == 0
    (project / "train.py").write_text(train + "Y = 3\n")
    git(project, "commit", "-qam", "another commit to measure")
    assert cli(project, "measure").returncode == 0
    assert cli(project, "loop", "--tag", "w", "-n", "1").returncode == 0
    shared = (tmp_path / "shared-trees").resolve()
    seen = where.read_text().splitlines()
    assert len(seen) == 3 and all(Path(cwd).is_relative_to(shared) for cwd in seen), seen
