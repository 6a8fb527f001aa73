"""What runner: ray sends to the cluster: the experiment's tree, as the job's working_dir.

Left out (Ray's ``excludes``, gitignore syntax):

- ``.git``: history is not needed, and in the tool's worktrees it is only a pointer to a git
  directory the cluster does not have;
- the tool's own files in the project (``state.USER_FILES``: run.log of the previous run,
  results.tsv, the JSONL logs, the plot): output, not input;
- links that point out of the tree (``run_files`` such as .venv, data or node_modules linked
  into a worktree): they name this machine's files; Ray would follow them and upload
  their whole target. The cluster needs its own copy (its image or storage).

Ray itself also leaves out what ``.gitignore`` and ``.rayignore`` files list. The size is
counted over the files git does not ignore (every file outside a repository), before
``.rayignore`` applies, and refused above ``MAX_BYTES``: every experiment uploads it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autoresearch.errors import EnvironmentProblem, UserError
from autoresearch.git import Repo
from autoresearch.state import USER_FILES

EXCLUDES = (".git", *USER_FILES)
MAX_BYTES = 100 * 1024 * 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Shipment:
    excludes: list[str]  # for runtime_env["excludes"]
    size: int  # bytes counted


def plan(tree: Path) -> Shipment:
    """What to exclude when shipping ``tree``; EnvironmentProblem when it is too large."""
    excludes = list(EXCLUDES)
    sizes: dict[str, int] = {}
    for name in _candidates(tree):
        path = tree / name
        if _excluded(name) or not os.path.lexists(path):
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(tree.resolve()):
            excludes.append("/" + name)
            continue
        if path.is_file():
            top = name.split("/")[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    total = sum(sizes.values())
    if total > MAX_BYTES:
        largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
        shown = ", ".join(f"{name} {size / MIB:.0f} MiB" for name, size in largest)
        raise EnvironmentProblem(
            f"runner ray: {tree} is {total / MIB:.0f} MiB to ship with every experiment "
            f"(the limit is {MAX_BYTES / MIB:.0f} MiB; largest: {shown}); list what the run "
            "does not need in .rayignore and put data on the cluster's own storage")
    return Shipment(excludes, total)


def _candidates(tree: Path) -> list[str]:
    """The tree's files (and links) that git does not ignore, relative to ``tree``."""
    try:
        with Repo(tree) as repo:
            listed = repo.run("ls-files", "-z", "--cached", "--others", "--exclude-standard",
                              "--", str(tree))
            root = repo.root
    except UserError:  # not in a repository: every file
        return _walk(tree)
    return [(root / name).relative_to(tree).as_posix() for name in listed.split("\0") if name]


def _walk(tree: Path) -> list[str]:
    found = []
    for base, dirs, names in os.walk(tree):  # links to directories are listed, not entered
        here = Path(base).relative_to(tree)
        dirs[:] = [d for d in dirs if not _excluded((here / d).as_posix())]
        found += [(here / name).as_posix() for name in names]
        found += [(here / d).as_posix() for d in dirs if os.path.islink(os.path.join(base, d))]
    return found


def _excluded(name: str) -> bool:
    parts = name.split("/")
    for pattern in EXCLUDES:
        wanted = pattern.strip("/").split("/")
        if any(parts[i:i + len(wanted)] == wanted for i in range(len(parts))):
            return True
    return False
