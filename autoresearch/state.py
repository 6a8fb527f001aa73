"""Where everything lives: the one owner of every path the tool uses, and the one atomic write.

Two places, kept apart on purpose (docs/security.md):

| what | where |
|---|---|
| what users read: results.tsv, the JSONL log, run.log, plots | the project directory |
| the tool's state: the authoritative ledger, the measurement cache, the content index, the one doit database, the lock, agent scratch, crash files, the tool's worktrees | ``<git-common-dir>/autoresearch/<project>/`` |

The state directory sits inside the repository's git directory, where neither an agent
(which works in a copy of the project without ``.git``) nor ``git status`` sees it, and one
directory per project keeps two projects of a monorepo apart. ``work_dir`` moves the
worktrees (a cluster needs them on a shared filesystem).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from autoresearch.errors import EnvironmentProblem

STATE_ROOT = "autoresearch"  # under the git common directory
RESULTS_FILE = "results.tsv"
EVENTS_FILE = ".claude/logs/autoresearch.jsonl"
RUN_LOG = "run.log"
# Excluded from git in every project (unanchored: they match in a subdirectory project too).
USER_FILES = (RESULTS_FILE, RUN_LOG, ".claude/logs/", "progress.png", f"{RESULTS_FILE}.*.bak")


def project_key(relative: str) -> str:
    """The state directory's name for a project at ``relative`` (posix) in its repository."""
    relative = relative.strip("/")
    return "root" if relative in ("", ".") else quote(relative, safe="-_.")


@dataclass(frozen=True)
class Layout:
    """Every path of one project: the user's files in ``project``, the tool's in ``state``."""

    project: Path  # the project directory (the unit: config, targets, user files)
    repo_root: Path  # the user's work tree root (the project or one of its parents)
    common_dir: Path  # the repository's git common directory
    work_dir: Path | None = None  # where the tool's worktrees go (default: in state)

    # -- where the project sits in its repository ------------------------------------------
    @property
    def project_path(self) -> str:
        """The project's path inside the repository, posix, "" for the root."""
        relative = self.project.relative_to(self.repo_root).as_posix()
        return "" if relative == "." else relative

    def in_repo(self, path: str) -> str:
        """A project-relative path as a repository-relative one."""
        return f"{self.project_path}/{path}" if self.project_path else path

    # -- the user's files (project directory) -------------------------------------------------
    @property
    def results_tsv(self) -> Path:
        return self.project / RESULTS_FILE

    @property
    def events(self) -> Path:
        return self.project / EVENTS_FILE

    @property
    def run_log(self) -> Path:
        return self.project / RUN_LOG

    # -- the tool's state (git common directory) ----------------------------------------------
    @property
    def state(self) -> Path:
        return self.common_dir / STATE_ROOT / project_key(self.project_path)

    @property
    def ledger(self) -> Path:
        """The authoritative experiment log; results.tsv and the JSONL are mirrors of it."""
        return self.state / "ledger.jsonl"

    @property
    def doit_db(self) -> Path:
        return self.state / "doit.sqlite3"

    @property
    def lock(self) -> Path:
        return self.state / "loop.lock"

    @property
    def tag_file(self) -> Path:
        """The tag most recently set up in this project."""
        return self.state / "tag"

    @property
    def live(self) -> Path:
        """What the running loop is doing now (phase, elapsed, workers): for dashboards."""
        return self.state / "live.json"

    @property
    def runs(self) -> Path:
        return self.state / "runs"

    def run_dir(self, sha: str) -> Path:
        return self.runs / sha

    @property
    def content(self) -> Path:
        return self.state / "content"

    @property
    def pending(self) -> Path:
        """Candidates committed and not yet logged: what recovery finishes after a kill."""
        return self.state / "pending"

    @property
    def children(self) -> Path:
        """The processes (and cluster jobs) running now, for recovery after a kill."""
        return self.state / "children"

    @property
    def crashes(self) -> Path:
        return self.state / "crashes"

    @property
    def agent_dir(self) -> Path:
        """Agent scratch: prompts, outputs, the tune study."""
        return self.state / "agent"

    @property
    def worktrees(self) -> Path:
        return (self.work_dir or self.state) / "worktrees"


def _git_paths(directory: Path) -> tuple[Path, Path] | None:
    """(work tree root, common dir) of the repository holding ``directory``, or None."""
    if shutil.which("git") is None:
        raise EnvironmentProblem(
            "git is not installed or not on PATH: install it (e.g. apt-get install git)")
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--git-common-dir"], cwd=directory,
            capture_output=True, text=True, check=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 2:
        return None
    root = Path(lines[0])
    common = Path(lines[1])
    return root, common if common.is_absolute() else (directory / common).resolve()


def locate(project: Path, work_dir: Path | None = None) -> Layout:
    """The layout of the project at ``project``; EnvironmentProblem outside a repository."""
    project = project.resolve()
    found = _git_paths(project)
    if found is None:
        raise EnvironmentProblem(f"{project} is not inside a git repository: run 'git init' "
                                 "there and commit your project first")
    root, common = found
    return Layout(project=project, repo_root=root.resolve(), common_dir=common,
                  work_dir=work_dir)


def locate_for(config) -> Layout:
    """The layout of a resolved config's project, with its ``work_dir`` (relative to the
    project) for the tool's worktrees: every command that runs experiments uses this."""
    work = Path(config.work_dir).expanduser() if config.work_dir else None
    if work is not None and not work.is_absolute():
        work = config.project_dir / work
    return locate(config.project_dir, work)


def find(project: Path) -> Layout | None:
    """:func:`locate`, or None outside a repository or without git (for commands that only
    read)."""
    try:
        return locate(project)
    except EnvironmentProblem:
        return None


# -- files the tool writes --------------------------------------------------------------------

def write_text_atomic(path: Path, text: str, *, durable: bool = False) -> None:
    """Replace ``path`` with ``text`` through a temp file and a rename: a killed process never
    leaves half a file. ``durable`` adds an fsync (survives a power cut, costs milliseconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temp name per process and thread: parallel workers may write the same file.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temp, path)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False, default=str))


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
