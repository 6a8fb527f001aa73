"""The files a project is made of: what git tracks, never a build output or an ignored file.

Defaults (the target file, a bundler's entry, the build's outputs) are found among these, so
they do not change when a build runs. A project that is not a git repository yet (or where
git tracks nothing yet) has no such list: its files on disk stand in, less the usual output
and dependency directories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autoresearch import git, pathglob

# Without git, these directories hold outputs, dependencies or tool state, not sources.
UNTRACKED_SKIP = frozenset({"node_modules", "dist", "build", "out", "target", "__pycache__",
                            ".venv", "venv"})
DISK_LIMIT = 50_000  # files; a project this size without git is no project for a default


@dataclass(frozen=True)
class ProjectFiles:
    root: Path
    paths: frozenset[str]  # relative to root, with "/"
    tracked: bool  # True: git's list; False: the files on disk
    why: str = ""  # why the files on disk stand in

    def has(self, path: str) -> bool:
        """Whether ``path`` is one of the project's files and exists as a file."""
        path = normalize(path)
        return path is not None and path in self.paths and (self.root / path).is_file()

    def glob(self, pattern: str) -> list[str]:
        return [p for p in pathglob.select(pattern, self.paths) if (self.root / p).is_file()]

    def read(self, path: str) -> str | None:
        """The text of one of the project's files, or None."""
        if not self.has(path):
            return None
        try:
            return (self.root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def describe(self) -> str:
        return "files tracked by git" if self.tracked else f"files on disk ({self.why})"


def list_files(project: Path) -> ProjectFiles:
    """Git's list; the files on disk when the project is in no repository, or git tracks
    nothing in it yet (a fresh ``git init``: setup then asks for a first commit)."""
    tracked = git.tracked_files(project)
    if tracked:
        return ProjectFiles(project, tracked, tracked=True)
    return ProjectFiles(project, frozenset(_on_disk(project)), tracked=False,
                        why="no git repository" if tracked is None else "nothing tracked yet")


def normalize(path: str) -> str | None:
    """``./src//a.js`` -> ``src/a.js``; None for a path leaving the project or naming it."""
    cleaned = os.path.normpath(path.strip().removeprefix("./")).replace(os.sep, "/")
    if cleaned in (".", "") or cleaned.startswith(("../", "/")) or cleaned == "..":
        return None
    return cleaned


def _on_disk(project: Path) -> list[str]:
    found: list[str] = []
    for directory, dirs, names in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in UNTRACKED_SKIP and not d.startswith("."))
        relative = Path(directory).relative_to(project).as_posix()
        prefix = "" if relative == "." else relative + "/"
        found.extend(prefix + name for name in names)
        if len(found) > DISK_LIMIT:
            break
    return found
