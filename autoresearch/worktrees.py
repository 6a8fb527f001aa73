"""The work trees of parallel workers: one detached checkout each, in .autoresearch/worktrees/.

They share the repository's objects, so a commit made in one is visible everywhere. A
parallel loop removes them when it ends, normally or interrupted; a loop killed hard
leaves them behind, and the next loop (parallel or not) removes them before it starts:
``git worktree prune`` forgets the ones whose directory is gone, the others are removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autoresearch.engine import STATE_DIR
from autoresearch.git import GitCommandError, Repo

WORKTREES_DIR = "worktrees"


def pool(repo: Repo) -> Path:
    return repo.root / STATE_DIR / WORKTREES_DIR


def create(repo: Repo, name: str, rev: str) -> Path:
    """A fresh work tree called ``name`` at ``rev`` (a leftover of the same name goes first)."""
    path = pool(repo) / name
    if path.exists():
        remove(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    repo.worktree_add(path, rev)
    return path


def remove(repo: Repo, path: Path) -> None:
    """Remove the work tree at ``path``: git's record and the directory."""
    try:
        repo.worktree_remove(path)
    except GitCommandError:  # not registered (any more): the directory may still be there
        pass
    shutil.rmtree(path, ignore_errors=True)


def clean_stale(repo: Repo) -> list[Path]:
    """Remove every work tree in the pool (left by a killed loop); return their paths."""
    directory = pool(repo)
    repo.worktree_prune()
    registered = [path for path in repo.worktree_list() if _inside(path, directory)]
    for path in registered:
        remove(repo, path)
    leftovers = sorted(directory.iterdir()) if directory.is_dir() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    repo.worktree_prune()
    return sorted({p.resolve() for p in registered} | {p.resolve() for p in leftovers})


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())
