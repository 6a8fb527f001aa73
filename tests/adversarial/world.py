"""The user's world around a test project, and a snapshot of it that invariants compare.

Every case starts from the same world: the project committed on ``main``; a branch
``feature`` with a commit of its own and a tag ``v1``; a stash; untracked files (``notes.txt``,
``scratch/helper.py``). A case may add to it (uncommitted edits, staged files) before the
snapshot is taken.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from helpers import git

# What the tool itself writes in the project (mirrors, the last run's log, backups): not the
# user's.
TOOL_FILES = ("results.tsv", "run.log", "progress.png")
TOOL_DIRS = (".claude/logs/",)
TOOL_REFS = ("refs/heads/autoresearch/", "refs/autoresearch/")
UNTRACKED = {"notes.txt": "my notes\n", "scratch/helper.py": "SCALE = 1.0\n"}


def build(project: Path) -> None:
    """The standard world (see the module docstring); the tree ends clean on main."""
    git(project, "checkout", "-q", "-b", "feature")
    (project / "feature.txt").write_text("work in progress\n")
    git(project, "add", "feature.txt")
    git(project, "commit", "-q", "-m", "feature work")
    git(project, "tag", "v1")
    git(project, "checkout", "-q", "main")
    (project / "prepare.py").write_text("SCALE = 2.0  # stashed\n")
    git(project, "stash", "push", "-q", "-m", "my stash")
    for path, text in UNTRACKED.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)


def is_tool_file(path: str) -> bool:
    return (path in TOOL_FILES or path.startswith(TOOL_DIRS)
            or path.startswith("results.tsv.") and path.endswith(".bak"))


@dataclass
class Snapshot:
    files: dict[str, tuple[int, bytes]]  # the work tree but .git and the tool's files
    index: str  # git ls-files --stage, with the skip-worktree and assume-unchanged tags
    head: str  # the branch HEAD names, or the detached sha
    refs: dict[str, str]  # every ref but the tool's
    stash: str
    expected: dict[str, bytes | None] = field(default_factory=dict)

    def expect(self, path: str, content: bytes | None) -> None:
        """The user changes ``path`` after the snapshot (None: deletes it)."""
        self.expected[path] = content

    def differences(self, now: Snapshot) -> list[str]:
        """What of the user's is gone or changed (additions are not losses)."""
        lost = []
        files = dict(self.files)
        for path, content in self.expected.items():
            if content is None:
                files.pop(path, None)
            else:
                files[path] = (now.files.get(path, (0, b""))[0], content)
        for path, (mode, data) in sorted(files.items()):
            if path not in now.files:
                lost.append(f"{path} deleted")
            elif now.files[path] != (mode, data):
                lost.append(f"{path} changed")
        for name in ("index", "head", "stash"):
            if getattr(self, name) != getattr(now, name):
                lost.append(f"{name}: {getattr(self, name)!r} -> {getattr(now, name)!r}")
        for ref, sha in sorted(self.refs.items()):
            if now.refs.get(ref) != sha:
                lost.append(f"{ref} moved from {sha[:7]} to {(now.refs.get(ref) or 'nothing')[:7]}")
        return lost


def snapshot(project: Path) -> Snapshot:
    refs = dict(line.split(" ", 1)[::-1] for line in git(
        project, "for-each-ref", "--format=%(objectname) %(refname)").splitlines())
    head = git(project, "symbolic-ref", "-q", "HEAD", check=False) or git(
        project, "rev-parse", "HEAD")
    return Snapshot(
        files=work_tree(project),
        index=git(project, "ls-files", "--stage", "-v"),
        head=head,
        refs={r: s for r, s in refs.items() if not r.startswith(TOOL_REFS)},
        stash=git(project, "stash", "list", "--format=%H %gs"))


def work_tree(project: Path) -> dict[str, tuple[int, bytes]]:
    """Every file and link under ``project`` but ``.git`` and the tool's: (mode, bytes)."""
    found = {}
    for directory, dirnames, filenames in os.walk(project):
        if Path(directory) == project and ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames + [d for d in dirnames if os.path.islink(Path(directory, d))]:
            path = Path(directory, name)
            rel = path.relative_to(project).as_posix()
            if is_tool_file(rel):
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = (info.st_mode, os.readlink(path).encode())
            elif stat.S_ISREG(info.st_mode):
                found[rel] = (info.st_mode, path.read_bytes())
            else:
                found[rel] = (info.st_mode, b"")
    return found
