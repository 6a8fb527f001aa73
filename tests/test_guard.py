"""The guard: what the agent changed, judged with git and content hashes."""

from __future__ import annotations

from pathlib import Path

from autoresearch import guard
from autoresearch.git import open_repo
from conftest import git


def _repo(root: Path) -> Path:
    (root / "train.py").write_text("LR = 1\n")
    (root / "prepare.py").write_text("DATA = 1\n")
    (root / "other.py").write_text("X = 1\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "start")
    return root


def _verdict(root: Path, change) -> guard.Verdict:
    with open_repo(root) as repo:
        before = guard.snapshot(repo, ("prepare.py",))
        change()
        return guard.check(repo, before, ("train.py",))


def test_an_edit_of_the_target_alone_passes(git_repo: Path):
    root = _repo(git_repo)
    verdict = _verdict(root, lambda: (root / "train.py").write_text("LR = 2\n"))
    assert verdict.violation is None and verdict.changed == ("train.py",)


def test_a_staged_rename_onto_the_target_names_the_file_it_removed(git_repo: Path):
    root = _repo(git_repo)
    git(root, "rm", "--quiet", "train.py")
    git(root, "commit", "--quiet", "--message", "target not tracked yet")
    (root / "train.py").write_text("LR = 1\n")

    verdict = _verdict(root, lambda: git(root, "mv", "-f", "other.py", "train.py"))

    assert verdict.violation == "rejected: changed files other than the target: other.py"


def test_a_protected_file_changed_is_named_first(git_repo: Path):
    root = _repo(git_repo)
    verdict = _verdict(root, lambda: (root / "prepare.py").write_text("DATA = 2\n"))
    assert verdict.violation == "rejected: modified protected file prepare.py"


def test_no_change_is_rejected(git_repo: Path):
    root = _repo(git_repo)
    assert _verdict(root, lambda: None).violation == "rejected: the agent made no change"


def test_untracked_files_of_the_user_are_not_the_agents(git_repo: Path):
    root = _repo(git_repo)
    (root / "notes.txt").write_text("mine\n")

    def edit():
        (root / "train.py").write_text("LR = 3\n")
        (root / "new.py").write_text("made by the agent\n")

    verdict = _verdict(root, edit)
    assert verdict.created == frozenset({"new.py"})
    assert verdict.violation == "rejected: changed files other than the target: new.py"
