"""The agent's disposable copy of a commit's project tree, made from git's objects.

The copy is written from the commit's blobs (``ls-tree`` and ``cat-file``), so the user's
index and work tree are never read or touched, and no filter, line-ending conversion or
``export-ignore`` attribute changes what the agent sees: every file holds its blob's
bytes, with the committed mode; a symbolic link is a link; a submodule an empty
directory. The real repository's ``.git``, the tool's files (even when tracked by mistake)
and the holdout paths in ``exclude`` are not in it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from autoresearch import git, state
from autoresearch.errors import UserError

# What the tool writes in a project: never handed to an agent.
TOOL_PATHS = (*state.USER_FILES, ".autoresearch/")
LINK, SUBMODULE, EXECUTABLE = 0o120000, 0o160000, 0o100755
COPY_MESSAGE = "autoresearch: the project at {commit}"


def committed(repository: git.Repo | Path, commit: str, project_path: str, *,
              exclude: Iterable[str] = ()) -> dict[str, git.TreeEntry]:
    """The entries of ``commit``'s project tree that a copy holds, by project-relative path.

    ``repository``: an open repository, or its root. ``project_path`` is the project's posix
    path in the repository ("" for the root). This is what
    :func:`autoresearch.cross_back.read_back` compares the copy with.
    """
    with _opened(repository) as repo:
        return _listing(repo, commit, project_path, exclude)


def make_copy(repository: git.Repo | Path, commit: str, project_path: str, dest: Path, *,
              exclude: Iterable[str] = (), with_git: bool = False,
              listing: dict[str, git.TreeEntry] | None = None) -> Path:
    """Write ``commit``'s project tree into ``dest`` (created; must not exist) and return it.

    ``exclude``: project-relative files or directories left out (holdout files); ``listing``:
    :func:`committed` of the same commit, when the caller has it already.
    ``with_git``: ``dest`` becomes a repository of its own with one commit of the copy, for
    agents that see their own changes through git (aider).
    """
    dest.mkdir(parents=True, mode=0o700)
    with _opened(repository) as repo:
        if listing is None:
            listing = _listing(repo, commit, project_path, exclude)
        for path, entry in listing.items():
            _write(repo, dest / path, entry)
    if with_git:
        git.init_private(dest, COPY_MESSAGE.format(commit=commit))
    return dest


@contextmanager
def _opened(repository: git.Repo | Path) -> Iterator[git.Repo]:
    """An open repository as it is (the loop's, shared by its threads), or one opened here."""
    if isinstance(repository, git.Repo):
        yield repository
    else:
        with git.Repo(repository) as repo:
            yield repo


def remove_copy(dest: Path) -> None:
    """Delete a copy, including read-only directories an agent may have left in it."""
    if dest.is_dir():
        for directory, _, _ in os.walk(dest):
            os.chmod(directory, 0o700)
    shutil.rmtree(dest, ignore_errors=True)


def _listing(repo: git.Repo, commit: str, project_path: str,
             exclude: Iterable[str]) -> dict[str, git.TreeEntry]:
    left_out = [p.strip("/") for p in (*TOOL_PATHS, *exclude) if p.strip("/")]
    try:
        entries = repo.tree_entries(commit, project_path)
    except git.GitCommandError as exc:
        shown = project_path or "the repository root"
        raise UserError(f"cannot copy {shown} at commit {commit}: {exc}") from None
    for entry in entries:
        parts = entry.path.split("/")
        if entry.path.startswith("/") or {"", ".", "..", ".git"} & set(parts):
            raise UserError(f"commit {commit} holds the unsafe path {entry.path!r}: "
                            "git would not check it out either")
    return {e.path: e for e in entries if not _excluded(e.path, left_out)}


def _excluded(path: str, left_out: list[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in left_out)


def _write(repo: git.Repo, target: Path, entry: git.TreeEntry) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.mode == SUBMODULE:
        target.mkdir(exist_ok=True)  # as git leaves an uninitialised submodule
    elif entry.mode == LINK:
        os.symlink(os.fsdecode(repo.blob(entry.oid)), target)
    else:
        target.write_bytes(repo.blob(entry.oid))
        target.chmod(0o755 if entry.mode == EXECUTABLE else 0o644)
