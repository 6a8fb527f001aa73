"""The experiment branch when the user has it checked out, or moved it by hand."""

from __future__ import annotations

from pathlib import Path

from helpers import cli, experiments, git, make_project, train_py


def write(value: float, say: str) -> dict:
    return {"write": {"train.py": train_py(value)}, "say": say}


def test_a_checked_out_clean_branch_follows_each_keep(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), [write(0.8, "lower"), write(0.6, "lower")])
    assert cli(project, "setup", "--tag", "f").returncode == 0
    git(project, "switch", "-q", "autoresearch/f")
    done = cli(project, "loop", "--tag", "f", "-n", "2")
    assert done.returncode == 0, done.stderr
    best = experiments(project)[-1]["full_commit"]
    assert git(project, "rev-parse", "HEAD") == best  # fast-forwarded with the keeps
    assert (project / "train.py").read_text() == train_py(0.6)
    assert git(project, "status", "--porcelain") == ""


def test_a_checked_out_branch_with_the_users_edits_waits_and_keeps_them(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0),
                           [write(0.8, "lower"), write(0.6, "lower"), write(0.5, "lower")])
    assert cli(project, "setup", "--tag", "f").returncode == 0
    git(project, "switch", "-q", "autoresearch/f")
    start = git(project, "rev-parse", "HEAD")
    (project / "prepare.py").write_text("# the user's own edit, not committed\n")
    done = cli(project, "loop", "--tag", "f", "-n", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("the branch waits and catches up once that tree is clean") == 1
    best = experiments(project)[-1]["full_commit"]
    assert git(project, "rev-parse", "HEAD") == start  # it waited
    assert git(project, "rev-parse", "refs/autoresearch/f/best") == best
    assert (project / "prepare.py").read_text() == "# the user's own edit, not committed\n"

    git(project, "checkout", "-q", "--", "prepare.py")  # the tree is clean again
    done = cli(project, "loop", "--tag", "f", "-n", "1")
    assert done.returncode == 0, done.stderr
    assert git(project, "rev-parse", "HEAD") == experiments(project)[-1]["full_commit"]


def test_a_branch_moved_off_the_best_stops_the_loop_with_the_way_back(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), [write(0.8, "lower"), write(0.6, "lower")])
    done = cli(project, "loop", "--tag", "m", "-n", "1")
    assert done.returncode == 0, done.stderr
    best = experiments(project)[-1]["full_commit"]
    git(project, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(project, "branch", "-f", "autoresearch/m", "main")  # does not contain the best
    done = cli(project, "loop", "--tag", "m", "-n", "1")
    assert done.returncode == 3
    assert (f"branch autoresearch/m was moved to {git(project, 'rev-parse', 'main')[:7]}, which "
            f"does not contain the best commit {best[:7]}") in done.stderr
    assert f"run 'git branch -f autoresearch/m {best[:7]}'" in done.stderr
    assert len(experiments(project)) == 2  # nothing more was run
