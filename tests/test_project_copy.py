"""The agent's copy of a commit's project tree: only the project, exactly as committed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from autoresearch import git as git_module
from autoresearch.errors import UserError
from autoresearch.project_copy import committed, make_copy, remove_copy

FILES = {
    "app/train.py": "print('val_bpb: 1.0')\n",
    "app/run.sh": "#!/bin/sh\necho run\n",
    "app/lib/util.py": "X = 1\n",
    "app/data/holdout.csv": "secret\n",
    "app/data/keep.csv": "a,b\n",
    "app/eval.py": "held out\n",
    "app/results.tsv": "tracked by mistake\n",
    "app/run.log": "tracked by mistake\n",
    "app/.claude/logs/autoresearch.jsonl": "{}\n",
    "app/.claude/settings.json": "{}\n",
    "app/.autoresearch/runs/x/metrics.json": "{}\n",
    "app/.gitattributes": "*.py export-ignore\n*.csv text eol=crlf\n",
    "other/outside.py": "not the project\n",
}


@pytest.fixture
def repo(git_repo: Path, git) -> Path:
    for name, text in FILES.items():
        path = git_repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (git_repo / "app/run.sh").chmod(0o755)
    os.symlink("train.py", git_repo / "app/main.py")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "project")
    return git_repo


def tree(root: Path) -> dict[str, str]:
    """Every file and link below ``root`` (not in .git): its text or ``-> target``."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            found[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_text()
    return found


def test_the_copy_holds_the_project_as_committed_and_nothing_of_the_tool(repo, tmp_path):
    copy = make_copy(repo, "HEAD", "app", tmp_path / "copy")
    expected = {name.removeprefix("app/"): text for name, text in FILES.items()
                if name.startswith("app/")}
    for tool_file in ("results.tsv", "run.log", ".claude/logs/autoresearch.jsonl",
                      ".autoresearch/runs/x/metrics.json"):
        del expected[tool_file]
    expected["main.py"] = "-> train.py"
    assert tree(copy) == expected  # blob bytes: no export-ignore, no crlf conversion
    assert not (copy / ".git").exists()
    assert os.stat(copy / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(copy / "train.py").st_mode & 0o777 == 0o644


def test_the_repository_root_is_the_project_with_an_empty_path(repo, tmp_path):
    copy = make_copy(repo, "HEAD", "", tmp_path / "copy")
    assert (copy / "other/outside.py").is_file()
    assert (copy / "app/results.tsv").is_file()  # only the project's own tool files go
    assert not (copy / "results.tsv").exists()


def test_exclude_leaves_out_files_and_directories(repo, tmp_path):
    copy = make_copy(repo, "HEAD", "app", tmp_path / "copy", exclude=["eval.py", "data/"])
    assert not (copy / "eval.py").exists()
    assert not (copy / "data").exists()
    assert (copy / "lib/util.py").is_file()
    listing = committed(repo, "HEAD", "app", exclude=["eval.py", "data"])
    assert set(listing) == set(tree(copy))


def test_the_users_index_and_work_tree_are_untouched(repo, tmp_path, git):
    (repo / "app/train.py").write_text("uncommitted edit\n")
    (repo / "app/staged.py").write_text("staged\n")
    git(repo, "add", "app/staged.py")
    (repo / "app/untracked.txt").write_text("mine\n")
    index = repo / ".git" / "index"
    status = git(repo, "status", "--porcelain")  # (this may refresh the index: first)
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    copy = make_copy(repo, "HEAD", "app", tmp_path / "copy", with_git=True)
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert git(repo, "status", "--porcelain") == status
    assert (repo / "app/train.py").read_text() == "uncommitted edit\n"
    assert (copy / "train.py").read_text() == FILES["app/train.py"]
    assert not (copy / "staged.py").exists() and not (copy / "untracked.txt").exists()


def test_a_copy_of_another_commit_than_head(repo, tmp_path, git):
    first = git(repo, "rev-parse", "HEAD")
    (repo / "app/train.py").write_text("second\n")
    git(repo, "commit", "-qam", "second")
    copy = make_copy(repo, first, "app", tmp_path / "copy")
    assert (copy / "train.py").read_text() == FILES["app/train.py"]


def test_with_git_the_copy_is_a_repository_of_its_own_without_hooks(repo, tmp_path, monkeypatch):
    marker = tmp_path / "hook-ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-commit"):
        (hooks / hook).write_text(f"#!/bin/sh\necho {hook} >> {marker}\n")
        (hooks / hook).chmod(0o755)
    global_config = tmp_path / "gitconfig"
    global_config.write_text(f"[core]\n\thooksPath = {hooks}\n[commit]\n\tgpgsign = true\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))  # must not lead git to the real one
    copy = make_copy(repo, "HEAD", "app", tmp_path / "copy", with_git=True)
    monkeypatch.delenv("GIT_DIR")

    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=copy, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert run("rev-parse", "--show-toplevel") == str(copy.resolve())
    assert run("status", "--porcelain") == ""
    assert run("rev-list", "--count", "HEAD") == "1"
    assert run("log", "-1", "--format=%an <%ae>") == "autoresearch <autoresearch@localhost>"
    assert not marker.exists()
    assert not (copy / ".git" / "hooks").exists()
    assert git_module.Repo(repo).head_sha() != run("rev-parse", "HEAD")


def test_a_submodule_is_an_empty_directory(repo, tmp_path, git):
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},app/vendor")
    git(repo, "commit", "-qm", "submodule")
    copy = make_copy(repo, "HEAD", "app", tmp_path / "copy")
    assert (copy / "vendor").is_dir() and not any((copy / "vendor").iterdir())


def test_an_unknown_project_path_is_a_one_line_error(repo, tmp_path):
    with pytest.raises(UserError, match=r"cannot copy nope at commit HEAD: git ls-tree failed"):
        make_copy(repo, "HEAD", "nope", tmp_path / "copy")


def test_remove_copy_removes_read_only_directories(repo, tmp_path):
    copy = make_copy(repo, "HEAD", "app", tmp_path / "copy")
    (copy / "lib").chmod(0o500)
    remove_copy(copy)
    assert not copy.exists()
