"""What the agent (or a run) changed, checked with git and content hashes, never trusted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from autoresearch.git import Repo


def hash_files(root: Path, paths: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """sha256 of each file's content (None when it does not exist)."""
    hashes: dict[str, str | None] = {}
    for path in paths:
        full = root / path
        try:
            hashes[path] = hashlib.sha256(full.read_bytes()).hexdigest()
        except (FileNotFoundError, IsADirectoryError):
            hashes[path] = None
    return hashes


@dataclass(frozen=True)
class Snapshot:
    """The tree before the agent ran: pre-existing untracked files and protected hashes."""

    untracked: frozenset[str]
    protected: dict[str, str | None]


def snapshot(repo: Repo, protected: tuple[str, ...]) -> Snapshot:
    return Snapshot(frozenset(repo.untracked()), hash_files(repo.root, protected))


@dataclass(frozen=True)
class Verdict:
    changed: tuple[str, ...]  # paths that differ from the best commit (new files included)
    created: frozenset[str]   # untracked files that did not exist before: removed on reset
    violation: str | None     # why the candidate is rejected, or None


def check(repo: Repo, before: Snapshot, targets: tuple[str, ...]) -> Verdict:
    """Only the target file(s) changed, the target still exists, protected files are intact."""
    changes = [c for c in repo.status() if not (c.untracked and c.path in before.untracked)]
    created = frozenset(c.path for c in changes if c.untracked)
    changed = tuple(sorted({c.path for c in changes}))
    return Verdict(changed, created, _violation(repo, before, targets, changed))


def _violation(repo: Repo, before: Snapshot, targets: tuple[str, ...],
               changed: tuple[str, ...]) -> str | None:
    tampered = [p for p, h in hash_files(repo.root, tuple(before.protected)).items()
                if before.protected[p] != h]
    if tampered:
        return f"rejected: modified protected file {', '.join(sorted(tampered))}"
    others = [p for p in changed if p not in targets]
    if others:
        shown = ", ".join(others[:5]) + (f" (+{len(others) - 5} more)" if len(others) > 5 else "")
        return f"rejected: changed files other than the target: {shown}"
    missing = [t for t in targets if not (repo.root / t).is_file()]
    if missing:
        return f"rejected: deleted the target file {', '.join(missing)}"
    if not changed:
        return "rejected: the agent made no change"
    return None
