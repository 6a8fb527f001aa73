"""``autoresearch setup``: the experiment branch, the logs and the baseline.

The branch ``autoresearch/<tag>`` is made from the user's HEAD and left unchecked-out: the
user's tree stays on the branch it was on (``git switch autoresearch/<tag>`` follows along).
The baseline is measured in a worktree of the tool's; a baseline that crashes makes setup
exit 1 with its cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch import hooks
from autoresearch.branch import branch_for
from autoresearch.config import resolve
from autoresearch.errors import ConfigError, EnvironmentProblem, LockedError, UserError
from autoresearch.git import open_repo
from autoresearch.lock import ProjectLock, running
from autoresearch.loop import LoopRun, preflight_check
from autoresearch.output import Console
from autoresearch.signals import Signals
from autoresearch.state import locate_for
from autoresearch.tags import (EXCLUDES, check_tag, create_branch, note_uncommitted,
                               prepare_files, recent_tag, remember)

DODO_LINE = "from autoresearch.tasks import *  # noqa: F401,F403  (doit loop | setup | results)\n"


def write_dodo(project: Path) -> str:
    dodo = project / "dodo.py"
    if dodo.exists():
        if DODO_LINE.split("#")[0].strip() in dodo.read_text(errors="replace"):
            return f"{dodo} already imports the autoresearch tasks; nothing changed"
        raise ConfigError(f"{dodo} exists and does not import autoresearch.tasks; add the line: "
                          f"{DODO_LINE.strip()}")
    dodo.write_text(DODO_LINE)
    return f"wrote {dodo}: 'doit loop', 'doit setup' and 'doit results' now work here"


def setup(project: Path, flags: dict[str, Any], *, tag: str | None, resume: bool,
          calibrate: int, console: Console) -> None:
    config = resolve(project, flags)
    tag = check_tag(tag)
    branch = branch_for(tag)
    if calibrate and calibrate < 3:  # checked before anything changes
        raise ConfigError(f"--calibrate {calibrate}: needs at least 3 runs to estimate the "
                          "noise")
    from autoresearch import agents, devices

    agent, tuner = agents.create_for(config.agent)
    layout = locate_for(config)
    pid = running(layout)
    if pid is not None:
        raise LockedError(f"a loop (pid {pid}) is running in {layout.project}; setup of a tag "
                          "while it runs is refused: stop it first")
    with open_repo(project) as repo, ProjectLock(layout), Signals():
        preflight_check(config)  # a missing program is named before the branch is made
        changes = []
        if repo.branch_exists(branch):
            if not resume and recent_tag(layout) != tag:
                raise EnvironmentProblem(f"branch {branch} already exists: pass --resume to "
                                         "continue it, or --tag NAME for a new one")
        else:
            changes.append(create_branch(repo, tag, console))
        remember(layout, tag)
        note_uncommitted(repo, layout, console)
        changes += prepare_files(repo, layout, config.results_columns, config.metric_name)
        hooks.remove_ours(repo, console)
        run = LoopRun(config, layout, repo, tag, agent, devices.plan({}), console, tuner=tuner)
        try:
            logged = run.establish_baseline(calibrate)
        except UserError as error:
            if error.exit_code == 7:  # a crashed baseline: setup itself failed
                raise UserError(str(error)) from None
            raise
        if logged:
            changes.append("baseline measured")
    if changes:
        console.result(f"setup {tag}: {'; '.join(changes)}")
    else:
        console.result(f"setup {tag}: already set up ({branch}); nothing changed")
