"""When the tool's own commits may skip the pre-commit hook: only when it is ours alone."""

from __future__ import annotations

from pathlib import Path

from autoresearch import hooks
from autoresearch.git import open_repo
from conftest import git


def _committed(root: Path) -> Path:
    (root / "train.py").write_text("LR = 1\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "start")
    return root


def test_no_hook_means_commits_are_verified(git_repo: Path):
    with open_repo(_committed(git_repo)) as repo:
        assert hooks.only_ours(repo) is False


def test_our_hook_alone_may_be_skipped(git_repo: Path):
    with open_repo(_committed(git_repo)) as repo:
        hooks.install(repo, ("train.py",))
        assert hooks.only_ours(repo) is True


def test_a_chained_user_hook_keeps_verification_on(git_repo: Path):
    root = _committed(git_repo)
    user_hook = root / ".git" / "hooks" / "pre-commit"
    user_hook.write_text("#!/bin/sh\nexit 0\n")
    user_hook.chmod(0o755)
    with open_repo(root) as repo:
        hooks.install(repo, ("train.py",))
        assert (root / ".git" / "hooks" / hooks.CHAINED).exists()
        assert hooks.only_ours(repo) is False
