"""Which tag a command works on, and its branch: created from the user's HEAD, never checked out.

Commands without ``--tag`` continue the tag most recently set up in the project (kept in the
state directory), whichever branch the user's tree is on; failing that the tag of the
checked-out ``autoresearch/<tag>`` branch; failing that today's (``dec2``).
"""

from __future__ import annotations

import re
from datetime import datetime

from autoresearch import ledger
from autoresearch.branch import PREFIX, branch_for
from autoresearch.errors import ConfigError, EnvironmentProblem
from autoresearch.git import Repo
from autoresearch.output import Console
from autoresearch.state import USER_FILES, Layout, write_text_atomic

EXCLUDES = list(USER_FILES) + [".aider*"]
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_tag(now: datetime | None = None) -> str:
    """The seed's tag: lowercase month and day, e.g. ``nov25``."""
    now = now or datetime.now()
    return f"{now.strftime('%b').lower()}{now.day}"


def check_tag(tag: str | None) -> str:
    tag = tag or default_tag()
    if not TAG_PATTERN.match(tag) or tag.endswith(".lock") or ".." in tag:
        raise ConfigError(f"--tag {tag!r} is not a valid tag; use letters, digits, '.', '_' "
                          "or '-' (e.g. nov25 or lr-sweep)")
    return tag


def tag_of_branch(branch: str | None) -> str | None:
    if branch and branch.startswith(PREFIX):
        return branch[len(PREFIX):]
    return None


def recent_tag(layout: Layout | None, repo: Repo | None = None) -> str | None:
    """The tag most recently set up in the project, else the checked-out branch's."""
    if layout is not None:
        try:
            tag = layout.tag_file.read_text().strip()
            if tag:
                return tag
        except OSError:
            pass
    return tag_of_branch(repo.current_branch()) if repo is not None else None


def remember(layout: Layout, tag: str) -> None:
    write_text_atomic(layout.tag_file, tag + "\n")


def require_committed(repo: Repo) -> str:
    head = repo.head_sha()
    if head is None:
        raise EnvironmentProblem(f"{repo.root} has no commits yet: commit your project first "
                                 "(git add -A && git commit -m 'start')")
    return head


def create_branch(repo: Repo, tag: str, console: Console) -> str:
    """autoresearch/<tag> at the user's HEAD, left unchecked-out; returns what was done."""
    head = require_committed(repo)
    branch = branch_for(tag)
    repo.create_branch(branch, head)
    current = repo.current_branch()
    where = f"your tree stays on {current}" if current else "your tree stays where it is"
    console.info(f"created branch {branch} at {head[:7]} ({where}; "
                 f"'git switch {branch}' to follow along)")
    return f"created branch {branch}"


def note_uncommitted(repo: Repo, layout: Layout, console: Console) -> None:
    """Say once that the user's uncommitted edits are not part of the experiment."""
    inside = [path for path in repo.dirty_tracked()
              if not layout.project_path or path.startswith(layout.project_path + "/")]
    if inside:
        shown = ", ".join(inside[:5]) + (f" (+{len(inside) - 5} more)" if len(inside) > 5 else "")
        console.info(f"note: uncommitted changes to {shown} are not part of the experiment "
                     "(it starts from the committed tree); your files are left as they are")


def prepare_files(repo: Repo, layout: Layout, columns: str = "seed",
                  metric: str = "") -> list[str]:
    """results.tsv, the log directory and the git excludes; returns what was created."""
    created = []
    path = layout.results_tsv
    if not path.exists() or path.stat().st_size == 0:
        ledger.append_lines(path, ledger.results_header(columns, metric) + "\n")
        created.append(ledger.RESULTS_FILE)
    logs = layout.events.parent
    if not logs.is_dir():
        logs.mkdir(parents=True)
        created.append(".claude/logs/")
    # Each pattern under the project's path: one with a slash inside (.claude/logs/) is
    # anchored at the repository root, so a subdirectory project's logs would show.
    added = repo.add_excludes([layout.in_repo(pattern) for pattern in EXCLUDES])
    if added:
        created.append(f".git/info/exclude ({', '.join(added)})")
    return created


def note_old_state(repo: Repo, layout: Layout, console: Console) -> None:
    """An earlier version kept its state in the project's .autoresearch/; committed by
    mistake (a routine ``git add -A``) it is named once, with the fix."""
    head = repo.head_sha()
    old = layout.in_repo(".autoresearch")
    if head and repo.entry(head, old) is not None:
        console.info(f"note: {old}/ is committed in this repository (the state of an earlier "
                     f"autoresearch); it is not used any more: git rm -r --cached {old}")


def start_tag(repo: Repo, layout: Layout, config, tag: str | None, console: Console) -> str:
    """The tag a loop runs: its branch exists (made from HEAD when new) and is remembered;
    the project's log files exist."""
    tag = check_tag(tag or recent_tag(layout, repo))
    if not repo.branch_exists(branch_for(tag)):
        create_branch(repo, tag, console)
    remember(layout, tag)
    note_uncommitted(repo, layout, console)
    note_old_state(repo, layout, console)
    prepare_files(repo, layout, config.results_columns, config.metric_name)
    return tag
