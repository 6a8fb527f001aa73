"""``autoresearch setup``: the experiment branch, the logs, the git hook and the baseline."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from autoresearch import hooks, ledger, output
from autoresearch.config import Config, resolve
from autoresearch.errors import ConfigError, EnvironmentProblem
from autoresearch.git import Repo, open_repo

DODO_LINE = "from autoresearch.tasks import *  # noqa: F401,F403  (doit loop | setup | results)\n"
EXCLUDES = ["results.tsv", "run.log", ".autoresearch/", ".claude/logs/", ".aider*"]
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


def branch_for(tag: str) -> str:
    return f"autoresearch/{tag}"


def tag_of_branch(branch: str | None) -> str | None:
    if branch and branch.startswith("autoresearch/"):
        return branch[len("autoresearch/"):]
    return None


def write_dodo(project: Path) -> str:
    dodo = project / "dodo.py"
    if dodo.exists():
        if DODO_LINE.split("#")[0].strip() in dodo.read_text(errors="replace"):
            return f"{dodo} already imports the autoresearch tasks; nothing changed"
        raise ConfigError(f"{dodo} exists and does not import autoresearch.tasks; add the line: "
                          f"{DODO_LINE.strip()}")
    dodo.write_text(DODO_LINE)
    return f"wrote {dodo}: 'doit loop', 'doit setup' and 'doit results' now work here"


def require_committed(repo: Repo) -> str:
    head = repo.head_sha()
    if head is None:
        raise EnvironmentProblem(f"{repo.root} has no commits yet: commit your project first "
                                 "(git add -A && git commit -m 'start')")
    return head


def require_clean(repo: Repo) -> None:
    dirty = repo.dirty_tracked()
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" (+{len(dirty) - 8} more)" if len(dirty) > 8 else "")
        raise EnvironmentProblem(f"uncommitted changes to tracked files: {shown}; "
                                 "commit or stash them first")


def prepare_files(repo: Repo) -> list[str]:
    """results.tsv, the log directory and the git excludes; returns what was created."""
    created = []
    if ledger.ensure_results_file(repo.root / ledger.RESULTS_FILE):
        created.append(ledger.RESULTS_FILE)
    logs = repo.root / ".claude" / "logs"
    if not logs.is_dir():
        logs.mkdir(parents=True)
        created.append(".claude/logs/")
    added = repo.add_excludes(EXCLUDES)
    if added:
        created.append(f".git/info/exclude ({', '.join(added)})")
    return created


def setup(project: Path, flags: dict[str, Any], *, tag: str | None, resume: bool,
          calibrate: int) -> None:
    config = resolve(project, flags)
    tag = check_tag(tag)
    branch = branch_for(tag)
    if calibrate:  # checked before anything changes, not after the branch exists
        _check_calibrate(calibrate)
    with open_repo(project) as repo:
        require_committed(repo)
        require_clean(repo)
        changes = _checkout_branch(repo, branch, resume)
        changes += prepare_files(repo)
        if hooks.install(repo, config.targets):
            changes.append("pre-commit hook")
        baseline_logged = establish_baseline(config, repo, tag, calibrate)
        if baseline_logged:
            changes.append("baseline measured")
    if changes:
        output.result(f"setup {tag}: {'; '.join(changes)}")
    else:
        output.result(f"setup {tag}: already set up on branch {branch}; nothing changed")


def _checkout_branch(repo: Repo, branch: str, resume: bool) -> list[str]:
    if repo.current_branch() == branch:
        return []
    if repo.branch_exists(branch):
        if not resume:
            raise EnvironmentProblem(f"branch {branch} already exists: pass --resume to continue "
                                     "it, or --tag NAME for a new one")
        repo.checkout(branch)
        return [f"checked out {branch}"]
    repo.create_branch(branch)
    repo.checkout(branch)
    return [f"created branch {branch}"]


def establish_baseline(config: Config, repo: Repo, tag: str, calibrate: int = 0) -> bool:
    """Measure and log the baseline unless this tag already has experiments; True if logged."""
    from autoresearch.history import History, log_experiment
    from autoresearch.engine import Engine

    history = History.load(repo.root, tag)
    if history.records and not calibrate:
        return False
    engine = Engine(config, repo)
    sha = repo.head_sha()
    if calibrate:
        _calibrate(config, repo, tag, calibrate)
        if history.records:
            return False
    measurement, decision = engine.evaluate(sha)
    log_experiment(config, repo.root, history, tag=tag, commit=sha, description="baseline",
                   measurement=measurement, decision=decision)
    output.info(f"baseline {config.metric_name}: "
                + (f"{measurement.value:.6f}" if measurement.value is not None
                   else f"crash ({measurement.error})"))
    return True


def _check_calibrate(runs: int) -> None:
    if runs < 3:
        raise ConfigError(f"--calibrate {runs}: needs at least 3 runs to estimate the noise")


def _calibrate(config: Config, repo: Repo, tag: str, runs: int) -> None:
    """Measure the baseline ``runs`` times and record the noise floor."""
    from dataclasses import replace

    from autoresearch import decide
    from autoresearch.engine import Engine

    _check_calibrate(runs)
    calibration = replace(config, values={**config.values, "repeats": runs})
    measured = Engine(calibration, repo).measure(repo.head_sha())
    floor = decide.noise_floor(measured.samples)
    ledger.append_event(repo.root / ledger.EVENTS_FILE, "calibration", "success", {
        "tag": tag, "samples": list(measured.samples), "noise_floor": floor,
        "metric": config.metric_name,
    })
    output.info(f"calibration: {runs} runs, noise floor ±{floor:.6g}" if floor is not None
                else f"calibration failed: {measured.error}")
