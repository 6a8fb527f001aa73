"""One kept change (a keep's commit against its parent), reverted from or applied onto another
commit by a three-way merge of the files it changed, without touching any work tree.

- **revert** from ``onto``: each file merged as ours = ``onto``, base = the keep, theirs =
  its parent (the final tree without that change);
- **apply** onto ``onto``: ours = ``onto``, base = the parent, theirs = the keep (the change
  alone on the starting point).

A hunk that conflicts, or a file missing on any side, means the change does not carry over
cleanly (None): finalize never guesses. A merge that changes nothing gives no files ({}).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoresearch.experiment import Experiment
from autoresearch.git import Repo

SLUG_CHARS = 40


@dataclass(frozen=True)
class KeptChange:
    experiment: Experiment
    commit: str  # the keep's full sha
    parent: str  # its parent's full sha: the best it was made on

    @property
    def number(self) -> int:
        return self.experiment.number

    @property
    def label(self) -> str:
        """``#3 a1b2c3d raise the learning rate``."""
        return f"#{self.number} {self.commit[:7]} {one_line(self.experiment.description)}"

    @property
    def slug(self) -> str:
        """The description as a branch-name word: ``raise-the-learning-rate``."""
        words = re.sub(r"[^a-z0-9]+", "-", self.experiment.description.lower()).strip("-")
        return words[:SLUG_CHARS].rstrip("-") or "change"


def one_line(text: str) -> str:
    return " ".join(text.split())


def _merged(repo: Repo, path: str, ours: str, base: str, theirs: str
            ) -> tuple[str, bytes] | None:
    """(mode, content) of ``path`` merged three ways; None on a conflict or a missing side."""
    entry = repo.entry(ours, path)
    contents = [repo.file_at(rev, path) for rev in (ours, base, theirs)]
    if entry is None or any(content is None for content in contents):
        return None
    merged = repo.merge_clean(*contents)
    return None if merged is None else (entry.git_mode, merged)


def carried(repo: Repo, onto: str, base: str, theirs: str
            ) -> dict[str, tuple[str, bytes]] | None:
    """The files of ``onto`` that the change from ``base`` to ``theirs`` alters, merged three
    ways (path -> (mode, content)); {} when nothing changes, None when it does not merge."""
    files = {}
    for path in repo.changed_paths(base, theirs):
        merged = _merged(repo, path, onto, base, theirs)
        if merged is None:
            return None
        if merged[1] != repo.file_at(onto, path):
            files[path] = merged
    return files


def revert(repo: Repo, onto: str, change: KeptChange) -> dict[str, tuple[str, bytes]] | None:
    """The files of ``onto`` with ``change`` undone (see :func:`carried`)."""
    return carried(repo, onto, change.commit, change.parent)


def apply(repo: Repo, onto: str, change: KeptChange) -> dict[str, tuple[str, bytes]] | None:
    """The files of ``onto`` with ``change`` made (see :func:`carried`)."""
    return carried(repo, onto, change.parent, change.commit)
