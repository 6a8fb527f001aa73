"""Starting a loop safely after anything: a hard kill, a killed ``measure``, an old version.

- the mirrors (results.tsv, the JSONL log) are checked against the ledger (mirrors.py);
- processes a killed loop left running are ended, when provably ours (children.py);
- the tool's worktrees the loop does not use are removed (but those of a ``measure`` or
  ``finalize`` still running), and the agents' leftover copies;
- the baseline is measured when the tag has no working best yet (a loop refuses to go on
  without one: exit 7);
- candidates committed but never logged (``Layout.pending``) are measured (cached when they
  were) and logged: a SIGKILL at any moment loses no measured experiment.
"""

from __future__ import annotations

import os
import re
import shutil

import psutil

from autoresearch import cluster, runner
from autoresearch.branch import Branch
from autoresearch.children import ChildRegistry
from autoresearch.errors import CrashingError, UserError
from autoresearch.git import Repo
from autoresearch.mirrors import Ledger
from autoresearch.output import Console
from autoresearch.state import Layout

BACKOFF_ENV = "AUTORESEARCH_BACKOFF_S"  # test-only: the first agent-failure pause


def backoff_s() -> float:
    return float(os.environ.get(BACKOFF_ENV, "2"))


def prepare(layout: Layout, repo: Repo, ledger: Ledger, children: ChildRegistry,
            console: Console, in_use: set[str]) -> None:
    if ledger.adopt_old_log():
        console.info(f"adopted {layout.events} as the ledger of this project")
    ledger.sync_mirrors(console.warn)
    killed = runner.kill_leftovers(children)
    if killed:
        console.info(f"resuming: stopped {len(killed)} process tree(s) left running by a "
                     f"killed loop (pid {', '.join(map(str, killed))})")
    jobs = cluster.cancel_leftovers(layout.children)
    if jobs:
        console.info(f"resuming: cancelled {', '.join(jobs)} left on the cluster by a killed "
                     "loop")
    _remove_stale_trees(layout, repo, in_use)
    shutil.rmtree(layout.agent_dir / "copies", ignore_errors=True)  # a killed call's copies


def _remove_stale_trees(layout: Layout, repo: Repo, in_use: set[str]) -> None:
    """Worktrees this loop does not use, but those of a ``measure`` or ``finalize`` still
    running."""
    if not layout.worktrees.is_dir():
        return
    for path in layout.worktrees.iterdir():
        if path.name in in_use:
            continue
        owner = re.match(r"(?:measure|finalize)-(\d+)", path.name)  # another command's
        if owner and psutil.pid_exists(int(owner.group(1))):
            continue
        try:
            repo.worktree_remove(path)
        except Exception:  # not registered any more: the directory is all that is left
            pass
        shutil.rmtree(path, ignore_errors=True)
    repo.worktree_prune()


def baseline(coordinator, branch: Branch) -> None:
    """Make sure the tag has a working best; measure and log the baseline when it has none."""
    history = coordinator.history
    if history.best_commit:
        branch.restore_best(history.best_commit)  # the ledger is the truth
        branch.follow()
        return
    start = branch.best() or branch.tip()
    measurement = coordinator.c.engine.measure(start, coordinator.c.workspaces[0])
    logged = coordinator.log_baseline(start, measurement)
    if logged.crashed:
        raise CrashingError(
            f"no working baseline: commit {start[:7]} crashes ({logged.error or logged.reason});"
            f" fix it (see {coordinator.c.engine.sample_log(start)}), then run again")
    branch.record_best(start, branch.best())


def drop_unmeasured(layout: Layout, engine) -> None:
    """After Ctrl-C or SIGTERM: the candidates stopped before they were measured are
    dropped (the user stopped them); measured ones stay pending and are logged next time."""
    from autoresearch.worker import pending

    for candidate in pending(layout):
        if not engine.metrics_path(candidate.commit).exists():
            (layout.pending / f"{candidate.commit}.json").unlink(missing_ok=True)


def finish_pending(coordinator, worker) -> None:
    """Measure and log the candidates a killed loop committed but did not log."""
    from autoresearch.worker import pending

    logged = {e.commit for e in coordinator.history.recent}
    for candidate in pending(coordinator.c.layout):
        if candidate.commit in logged:
            (coordinator.c.layout.pending / f"{candidate.commit}.json").unlink(missing_ok=True)
            continue
        try:
            coordinator.c.repo.resolve(candidate.commit)
        except UserError:  # never referenced, so `git gc` may have pruned it
            (coordinator.c.layout.pending / f"{candidate.commit}.json").unlink(missing_ok=True)
            coordinator.c.console.warn(f"resuming: dropped experiment {candidate.commit[:7]}, "
                                       "which is no longer in the repository (git gc)")
            continue
        coordinator.c.console.info(f"resuming: measuring experiment {candidate.commit[:7]} "
                                   "that was committed but never logged")
        worker.see_through(candidate, coordinator)


def calibrate(coordinator, runs: int) -> None:
    """``setup --calibrate N``: run the branch's best N times; the noise floor from the spread."""
    from autoresearch import decide

    c = coordinator.c
    start = coordinator.branch.best() or coordinator.branch.tip()
    samples = c.engine.calibrate(start, c.workspaces[0], runs)
    floor = decide.noise_floor(samples) if len(samples) == runs else None
    details = {"tag": coordinator.tag, "samples": samples, "noise_floor": floor,
               "metric": c.config.metric_name}
    if c.config.holdout_command:  # the holdout's own spread sets its default tolerance
        values = [c.engine.holdout(start, c.workspaces[0]) for _ in range(runs)]
        found = [v for v in values if v is not None]
        details["holdout_noise_floor"] = decide.noise_floor(found) if len(found) == runs \
            else None
        coordinator.history.holdout_floor = details["holdout_noise_floor"]
    coordinator.ledger.append("calibration", "success", details)
    coordinator.history.noise_floor = floor if floor is not None else \
        coordinator.history.noise_floor
    c.console.info(f"calibration: {runs} runs, noise floor ±{floor:.6g}" if floor is not None
                   else f"calibration failed: {len(samples)} of {runs} runs gave a metric")
