"""The worktrees the tool owns: where experiments run, never in the user's working tree.

Each is a detached ``git worktree`` under ``Layout.worktrees`` (the state directory, or
``work_dir``). Before every run it is checked out at the commit to measure and cleaned of
everything untracked or ignored that earlier runs left (build outputs, caches), except the
project's dependency directories, which are symlinks to the user's own (node_modules, virtual
environments, data: see :data:`LINKED` and the ``run_files`` key): the run finds what an
install put there without reinstalling, and nothing else of the user's is reachable by path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from autoresearch.git import GitCommandError, Repo, open_repo
from autoresearch.state import Layout

# Ignored directories of the user's project linked into each worktree when they exist.
LINKED = ("node_modules", ".venv", "venv", ".dart_tool", ".gradle", ".m2")


class Workspace:
    """One tool-owned worktree of the repository, named ``name``."""

    def __init__(self, repo: Repo, layout: Layout, name: str, run_files: tuple[str, ...] = ()):
        self.repo = repo
        self.layout = layout
        self.name = name
        self.path = layout.worktrees / name
        self.project = self.path / layout.project_path if layout.project_path else self.path
        self.links = tuple(dict.fromkeys(LINKED + run_files))
        self._git: Repo | None = None

    @property
    def git(self) -> Repo:
        if self._git is None:
            self._git = open_repo(self.path)
        return self._git

    def ensure(self, rev: str) -> "Workspace":
        """Create the worktree at ``rev`` unless it is there already."""
        if not (self.path / ".git").exists():
            if self.path.exists():
                shutil.rmtree(self.path)
            self.repo.worktree_prune()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repo.worktree_add(self.path, rev)
        return self

    def checkout(self, sha: str) -> None:
        """The tree exactly at ``sha``: tracked files reset, leftovers of earlier runs removed,
        the dependency directories linked."""
        self.ensure(sha)
        git = self.git
        git.run("checkout", "--quiet", "--force", "--detach", sha)
        excludes = [arg for link in self.links for arg in ("-e", f"/{self._in_repo(link)}")]
        git.run("clean", "-ffdxq", *excludes)
        self._link()

    def remove(self, path: str) -> None:
        """Delete a file or directory of the project from this worktree (until the next
        checkout restores it)."""
        target = self.project / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)

    def modified_tracked(self) -> list[str]:
        """Tracked files the run changed (a build that rewrites README.md, say)."""
        return self.git.dirty_tracked()

    def _in_repo(self, path: str) -> str:
        return self.layout.in_repo(path)

    def _link(self) -> None:
        for name in self.links:
            source = self.layout.project / name
            link = self.project / name
            if not source.exists() or link.exists() or link.is_symlink():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, link, target_is_directory=source.is_dir())

    def close(self) -> None:
        if self._git is not None:
            self._git.close()
            self._git = None

    def delete(self) -> None:
        """Remove the worktree: git's record and the directory."""
        self.close()
        try:
            self.repo.worktree_remove(self.path)
        except GitCommandError:  # not registered (any more): the directory may still be there
            pass
        shutil.rmtree(self.path, ignore_errors=True)


def clean_stale(repo: Repo, layout: Layout) -> list[Path]:
    """Remove the worktrees of this project that no loop uses (left by a killed one)."""
    directory = layout.worktrees
    repo.worktree_prune()
    found = []
    for path in repo.worktree_list():
        if path.resolve().is_relative_to(directory.resolve()) and path.resolve() != directory:
            found.append(path)
            try:
                repo.worktree_remove(path)
            except GitCommandError:
                pass
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        found.append(path)
        shutil.rmtree(path, ignore_errors=True)
    repo.worktree_prune()
    return sorted({p.resolve() for p in found})
