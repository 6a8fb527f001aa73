"""Trees read and written in process (autoresearch/git_objects.py) agree with git's own."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import git, init_repo

from autoresearch.git import GitCommandError, open_repo


@pytest.fixture
def repo_dir(tmp_path, git_identity):
    root = init_repo(tmp_path / "repo")
    (root / "src" / "deep").mkdir(parents=True)
    (root / "src" / "deep" / "model.py").write_text("LR = 0.1\n")
    (root / "src" / "héllo wörld.txt").write_text("unicode\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "a.txt").write_text("a\n")
    (root / "src-x").write_text("sorts between src and src/ in git's order\n")
    os.symlink("a.txt", root / "link")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def ls_tree(root, spec):
    out = subprocess.run(["git", "ls-tree", "-r", "-z", spec], cwd=root, capture_output=True,
                         check=True).stdout.decode()
    entries = []
    for record in filter(None, out.split("\0")):
        meta, _, name = record.partition("\t")
        mode, _, oid = meta.split(" ")
        entries.append((name, int(mode, 8), oid))
    return entries


@pytest.mark.parametrize("path", ["", "src", "src/deep"])
def test_tree_entries_match_ls_tree(repo_dir, path):
    with open_repo(repo_dir) as repo:
        got = [(e.path, e.mode, e.oid) for e in repo.tree_entries("HEAD", path)]
    assert got == ls_tree(repo_dir, f"HEAD:{path}" if path else "HEAD^{tree}")


def test_a_missing_directory_is_a_git_error(repo_dir):
    with open_repo(repo_dir) as repo, pytest.raises(GitCommandError):
        repo.tree_entries("HEAD", "nope")


def test_a_replaced_file_gives_the_tree_git_would_write(repo_dir):
    files = {"src/deep/model.py": ("100644", b"LR = 0.2\n"), "run.sh": ("100755", b"#!/bin/sh\necho\n"),
             "src/héllo wörld.txt": ("100644", b"changed\n")}
    with open_repo(repo_dir) as repo:
        head = repo.resolve("HEAD")
        ours = repo.tree_with(head, files)
    for path, (mode, content) in files.items():
        (repo_dir / path).write_bytes(content)
    git(repo_dir, "add", "-A")
    assert ours == git(repo_dir, "write-tree")
    assert git(repo_dir, "cat-file", "-t", ours) == "tree"
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo_dir, check=True,
                   capture_output=True)


def test_a_new_path_falls_back_to_git_plumbing(repo_dir):
    with open_repo(repo_dir) as repo:
        tree = repo.tree_with(repo.resolve("HEAD"), {"src/new.py": ("100644", b"x = 1\n")})
    assert "src/new.py" in [name for name, _, _ in ls_tree(repo_dir, tree)]
