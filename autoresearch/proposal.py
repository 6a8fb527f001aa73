"""One agent call, sealed: the agent edits a disposable copy of the best commit's project tree,
and only the bytes of the target file(s) cross back.

The copy holds the project's tracked files at the best commit and nothing else: no ``.git`` of
the real repository, none of the tool's state or logs, no holdout files. After the call the
tool reads each target from the copy; a target that became a symlink, a directory or a
nested repository, was deleted or changed mode is a rejection naming it. Everything else the
agent created, changed or deleted in the copy is listed (``ignored_files``) and dropped.
The copy is deleted after the call.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import shutil
import stat
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autoresearch.errors import EnvironmentProblem
from autoresearch.state import EVENTS_FILE, RESULTS_FILE, RUN_LOG

TOOL_FILES = (RESULTS_FILE, RUN_LOG, EVENTS_FILE)
IGNORED_LISTED = 20  # other touched files named in the record


@dataclass(frozen=True)
class Committed:
    """A target file as the best commit has it."""

    path: str  # project-relative
    mode: str  # 100644 or 100755
    content: bytes


@dataclass(frozen=True)
class CrossBack:
    """What the agent's copy gives back: the targets' new bytes, or why it is rejected."""

    contents: dict[str, bytes] = field(default_factory=dict)
    rejection: str | None = None
    changed: bool = False
    ignored: tuple[str, ...] = ()


def make_copy(repo_root: Path, commit: str, project_path: str, dest: Path, *,
              exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Materialise the project subtree of ``commit`` into ``dest`` (which must not exist) from
    git's objects; return {path: sha256} of what was written, for :func:`read_back`.

    The user's index and working tree are not touched (``git archive`` reads objects).
    """
    treeish = f"{commit}:{project_path}" if project_path else commit
    done = subprocess.run(["git", "archive", "--format=tar", treeish], cwd=repo_root,
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise EnvironmentProblem(f"git archive {treeish} failed: "
                                 f"{done.stderr.decode(errors='replace').strip()}")
    dest.mkdir(parents=True)
    written: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        members = [m for m in archive.getmembers() if not _excluded(m.name, exclude)]
        archive.extractall(dest, members=members, filter="tar")
        for member in members:
            if member.isfile():
                data = archive.extractfile(member).read()
                written[member.name] = hashlib.sha256(data).hexdigest()
            elif member.issym():
                written[member.name] = "symlink:" + member.linkname
    return written


def _excluded(name: str, exclude: tuple[str, ...]) -> bool:
    name = name.rstrip("/")
    for path in exclude + TOOL_FILES:
        path = path.rstrip("/")
        if name == path or name.startswith(path + "/"):
            return True
    return False


def read_back(copy: Path, committed: tuple[Committed, ...],
              written: dict[str, str]) -> CrossBack:
    """The targets' bytes from the agent's copy, checked; the other touched files listed."""
    contents: dict[str, bytes] = {}
    for target in committed:
        path = copy / target.path
        problem = _target_problem(path, target)
        if problem:
            return CrossBack(rejection=f"rejected: the target file {target.path} {problem}",
                             ignored=_touched(copy, written, committed))
        contents[target.path] = path.read_bytes()
    changed = any(contents[t.path] != t.content for t in committed)
    return CrossBack(contents, None, changed, _touched(copy, written, committed))


def _target_problem(path: Path, target: Committed) -> str | None:
    if path.is_symlink():
        return "became a symlink"
    if not path.exists():
        return "was deleted"
    if path.is_dir():
        return "became a directory" + (" (a nested repository)" if (path / ".git").exists()
                                       else "")
    if not path.is_file():
        return "is no longer a regular file"
    executable = bool(path.stat().st_mode & stat.S_IXUSR)
    if executable != (target.mode == "100755"):
        return f"changed mode ({'now' if executable else 'no longer'} executable)"
    return None


def _touched(copy: Path, written: dict[str, str],
             committed: tuple[Committed, ...]) -> tuple[str, ...]:
    """Files other than the targets the agent created, changed or deleted in its copy."""
    targets = {t.path for t in committed}
    now: dict[str, str] = {}
    for path in sorted(copy.rglob("*")):
        relative = path.relative_to(copy).as_posix()
        if path.is_symlink():
            now[relative] = "symlink:" + str(path.readlink())
        elif path.is_file():
            now[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    touched = sorted(p for p in set(now) | set(written)
                     if p not in targets and now.get(p) != written.get(p))
    return tuple(touched)


def shortstat(old: bytes, new: bytes) -> str:
    """"+A -R lines" between two versions of a file (for a description the agent did not give)."""
    diff = list(difflib.unified_diff(old.decode("utf-8", "replace").splitlines(),
                                     new.decode("utf-8", "replace").splitlines(), lineterm="", n=0))
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    return f"+{added} -{removed} lines"


def scratch_dir(parent: Path, name: str) -> Path:
    """A fresh directory for one agent call's copy."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
