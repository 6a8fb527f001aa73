"""``autoresearch loop``: start (or resume) a tag's loop and drive its workers.

Without bounds it never stops (the seed's core rule); ``--iterations``, ``--max-time`` and
``--max-cost`` bound it for CI. The serial loop is the coordinator with one worker, called
directly; ``--jobs N`` is the same code with N worker threads that reach the coordinator
through a mailbox (it stays on the main thread). Ctrl-C, SIGTERM, SIGHUP or stdout closing
stop what runs (agent or experiment, with their children), log ``interrupted`` and exit
128 + the signal; nothing in the user's working tree needs restoring, since nothing there
was touched. The next loop resumes.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoresearch import agents, devices, hooks, preflight, recovery, sandbox
from autoresearch.agents import tune
from autoresearch.agents.base import AgentSettings
from autoresearch.branch import Branch
from autoresearch.children import ChildRegistry
from autoresearch.config import Config, resolve
from autoresearch.coordinator import Context, Coordinator, new_search
from autoresearch.engine import Engine
from autoresearch.errors import ConfigError, CrashingError, Interrupted
from autoresearch.git import Repo, open_repo
from autoresearch.history import History
from autoresearch.live import Live
from autoresearch.lock import ProjectLock
from autoresearch.mirrors import Ledger
from autoresearch.notify import Ending, Notifier
from autoresearch.output import Console
from autoresearch.results import summary_of
from autoresearch.results_index import load_index, source_of
from autoresearch.schema import Invalid, duration
from autoresearch.tags import require_committed, start_tag
from autoresearch.signals import Signals
from autoresearch.state import Layout, locate_for
from autoresearch.worker import Worker, WorkerStopped
from autoresearch.workspace import Workspace

POLL_S = 0.1
JOIN_S = 30.0  # how long stopping workers may take (a tick, then the process-tree kill)


@dataclass(frozen=True)
class Bounds:
    iterations: int = 0  # 0 = no bound
    max_time_s: float | None = None
    max_cost_usd: float | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "Bounds":
        max_time = max_cost = None
        try:  # an empty value (--max-time "$UNSET") is an error, not "no bound"
            if options.get("max_time") is not None:
                max_time = duration(options["max_time"])
        except Invalid as exc:
            raise ConfigError(f"--max-time {options['max_time']!r} {exc}") from None
        if options.get("max_cost") is not None:
            try:
                max_cost = float(options["max_cost"])
            except ValueError:
                max_cost = -1.0
            if not 0 <= max_cost < float("inf"):
                raise ConfigError(f"--max-cost {options['max_cost']!r} must be a number of USD "
                                  ">= 0, e.g. 5 or 2.50")
        return cls(options.get("iterations") or 0, max_time, max_cost)

    @property
    def bounded(self) -> bool:
        return bool(self.iterations or self.max_time_s or self.max_cost_usd)

    def reached(self, done: int, elapsed_s: float, cost: float) -> str | None:
        if self.iterations and done >= self.iterations:
            return f"{done} iterations"
        if self.max_time_s is not None and elapsed_s >= self.max_time_s:
            return f"max time {self.max_time_s:g} s"
        if self.max_cost_usd is not None and cost >= self.max_cost_usd:
            return f"max cost ${self.max_cost_usd:g}"
        return None


def loop_command(project: Path, flags: dict[str, Any], options: dict[str, Any],
                 console: Console | None = None) -> dict[str, Any]:
    console = console or Console(quiet=bool(options.get("quiet")),
                                 progress_to_stderr=bool(options.get("json")))
    bounds = Bounds.from_options(options)
    config = resolve(project, flags)
    agent, tuner = agents.create_for(config.agent)
    agents.ensure_available(agent)
    plan = devices.plan(options)
    layout = locate_for(config)
    with open_repo(project) as repo:
        require_committed(repo)  # before anything is created
        preflight_check(config)
        with ProjectLock(layout), Signals() as signals:
            tag = start_tag(repo, layout, config, options.get("tag"), console)
            summary = LoopRun(config, layout, repo, tag, agent, plan, console,
                              tuner=tuner).run(bounds, signals)
    if options.get("json"):
        console.result(json.dumps(summary, indent=2))
    return summary


class LoopRun:
    """One run of a tag's loop, from start-up to its end."""

    def __init__(self, config: Config, layout: Layout, repo: Repo, tag: str, agent: Any,
                 plan: devices.Plan, console: Console, tuner: Any = None):
        self.config, self.layout, self.repo, self.tag = config, layout, repo, tag
        self.plan, self.console = plan, console
        self.ledger = Ledger(layout, metric=config.metric_name, columns=config.results_columns)
        children = ChildRegistry(layout.children)
        self.context = Context(
            config=config, layout=layout, repo=repo,
            engine=Engine(config, layout, repo, children=children), agent=agent,
            agent_settings=agent_settings(config), console=console, tuner=tuner,
            live=Live(layout.live, tag, plan.jobs), backoff_s=recovery.backoff_s())
        self.context.workspaces = {n: Workspace(repo, layout, f"w{n}", config.run_files)
                                   for n in range(0, plan.workers + 1)}
        self.context.sandbox, _ = sandbox.probe(config.sandbox)
        self.context.sealed_files = tuple(p for p in config.holdout_files
                                          if not Path(p).is_absolute())
        self.context.hidden_from_agent = tuple(dict.fromkeys(
            [layout.repo_root, layout.common_dir, layout.state, layout.worktrees,
             *(Path(p) for p in config.holdout_files if Path(p).is_absolute())]))
        self.context.notifier = Notifier.from_config(
            config, tag=tag, log=self.ledger.append, log_dir=layout.state / "hooks",
            plateau_after=config.pivot_after)
        self.children = children
        self.coordinator: Coordinator | None = None
        self.workers: list[Worker] = []

    def run(self, bounds: Bounds, signals: Signals) -> dict[str, Any]:
        try:
            return self._run(bounds, signals)
        finally:
            self._close()

    def _close(self) -> None:
        """The live status and the worktrees go; a hard kill leaves them for the next start."""
        self.context.notifier.close()
        self.context.live.close()
        for workspace in self.context.workspaces.values():
            workspace.delete()
        self.repo.worktree_prune()

    def _open(self, bounds: Bounds) -> Coordinator:
        preflight_check(self.config)
        recovery.prepare(self.layout, self.repo, self.ledger, self.children, self.console,
                         {w.name for w in self.context.workspaces.values()})
        hooks.remove_ours(self.repo, self.console)
        search = new_search(self.config)
        history = History.of(self.tag, search.replaying(self.tag, self.ledger.records()))
        branch = Branch(self.repo, self.tag, self.console.warn)
        self.coordinator = Coordinator(self.context, tag=self.tag, ledger=self.ledger,
                                       history=history, branch=branch, bounds=bounds,
                                       workers=self.plan.workers, search=search)
        return self.coordinator

    def establish_baseline(self, calibrate: int = 0) -> bool:
        """``setup``: calibrate when asked, measure and log the baseline when missing; True
        when a baseline was logged."""
        try:
            coordinator = self._open(Bounds())
            if calibrate:
                recovery.calibrate(coordinator, calibrate)
            had = coordinator.history.best_commit is not None
            recovery.baseline(coordinator, coordinator.branch)
            return not had
        finally:
            self._close()

    def _run(self, bounds: Bounds, signals: Signals) -> dict[str, Any]:
        coordinator = self._open(bounds)
        branch = coordinator.branch
        try:
            recovery.baseline(coordinator, branch)
            self.ledger.append("session_start", "in_progress", {
                "tag": self.tag, "trigger": "bounded" if bounds.bounded else "manual",
                "agent": self.config.agent, **self._session_details()})
            recovery.finish_pending(coordinator, self._worker(1))
            stop_reason = self._drive()
        except Interrupted as interrupt:
            with signals.shielded():
                self._stop_workers()
                recovery.drop_unmeasured(self.layout, self.context.engine)
                self.console.clear_status()
                details = {"tag": self.tag, "signal": interrupt.name,
                           "experiments": coordinator.session.experiments}
                if getattr(interrupt, "__notes__", None):  # cluster jobs stopped or not
                    details["notes"] = list(interrupt.__notes__)
                self.ledger.append("interrupted", "fail", details)
                best = coordinator.history.best_commit
                self.console.info(f"interrupted: stopped what was running; the best is "
                                  f"{(best or '')[:7]} on {branch.name}")
                self._ending(f"interrupted by {interrupt.name}")
            raise
        except BaseException:
            self._stop_workers()
            raise
        summary = {**coordinator.summary(stop_reason), **self._session_details()}
        self._ending(stop_reason)
        self.ledger.append("session_end", "success", {"tag": self.tag, **summary})
        best = summary["best"]
        self.console.info(
            f"stopped after {stop_reason}: {summary['experiments']} experiments, "
            f"{summary['kept']} kept; best {self.config.metric_name} "
            + (f"{best:.6f} ({(summary['best_commit'] or '')[:7]})" if best is not None
               else "— (nothing measured)"))
        return summary

    def _ending(self, reason: str) -> None:
        """on_stop and the webhook hear how the loop ended; the hooks finish (each within its
        limit) before the session's last record."""
        digest = load_index(source_of(self.layout.project)).tag(self.tag)
        self.context.notifier.fire("stop", Ending(summary_of(digest), reason))
        self.context.notifier.close()

    def _session_details(self) -> dict[str, Any]:
        if not self.plan.parallel:
            return {}
        return {"jobs": self.plan.jobs, "workers": self.plan.workers}

    def _worker(self, number: int, device: str | None = None, slots=None) -> Worker:
        return Worker(number, self.context, self.context.workspaces[number], device, slots)

    # -- driving ------------------------------------------------------------------------------
    def _drive(self) -> str:
        coordinator = self.coordinator
        if not self.plan.parallel:
            worker = self._worker(1, self.plan.devices[0])
            while worker.cycle(coordinator):
                pass
            self.console.clear_status()
        else:
            self._drive_parallel()
        return coordinator.stopping or coordinator.bound_reached() or "bounds reached"

    def _drive_parallel(self) -> None:
        slots: queue.Queue = queue.Queue()
        for device in self.plan.devices:
            slots.put(device)
        mailbox = Mailbox(self.coordinator)
        self.workers = [self._worker(n, slots=slots) for n in range(1, self.plan.workers + 1)]
        for worker in self.workers:
            worker.stop = mailbox.stop
        threads = [threading.Thread(target=mailbox.work, args=(worker,), daemon=True,
                                    name=f"autoresearch-worker-{worker.number}")
                   for worker in self.workers]
        shown = ", ".join(d for d in self.plan.devices if d is not None)
        self.console.info(f"parallel: {self.plan.workers} workers, {self.plan.jobs} "
                          f"experiment(s) at once" + (f" on GPUs {shown}" if shown else ""))
        for thread in threads:
            thread.start()
        self._threads = threads
        mailbox.serve(threads)

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop.set()
        deadline = time.monotonic() + JOIN_S
        for thread in getattr(self, "_threads", []):
            thread.join(max(0.0, deadline - time.monotonic()))


class Mailbox:
    """Worker threads reach the coordinator through this; the main thread runs every call,
    so judging, logging and the history stay single-threaded."""

    def __init__(self, coordinator: Coordinator):
        self.coordinator = coordinator
        self.inbox: queue.Queue = queue.Queue()
        self.stop = threading.Event()

    # -- the workers' side ------------------------------------------------------------------
    def work(self, worker: Worker) -> None:
        try:
            while worker.cycle(self):
                pass
        except WorkerStopped:
            pass
        except BaseException as exc:  # to the main thread, which stops everything
            self.inbox.put(("error", exc, None))
        finally:
            self.inbox.put(("finished", worker.number, None))

    def _call(self, name: str, *args: Any) -> Any:
        future: Future = Future()
        self.inbox.put((name, args, future))
        while True:
            if self.stop.is_set():
                raise WorkerStopped()
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                continue

    def ticket(self, worker: int):
        return self._call("ticket", worker)

    def agent_failed(self, worker: int, failure):
        return self._call("agent_failed", worker, failure)

    def consider(self, worker: int, candidate):
        return self._call("consider", worker, candidate)

    def started(self, worker: int, candidate):
        return self._call("started", worker, candidate)

    # -- the main thread's side ---------------------------------------------------------------
    def serve(self, threads: list[threading.Thread]) -> None:
        running = len(threads)
        try:
            while running:
                try:
                    name, args, future = self.inbox.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if name == "finished":
                    running -= 1
                    continue
                if name == "error":
                    raise args
                try:
                    future.set_result(getattr(self.coordinator, name)(*args))
                except Exception as exc:
                    future.set_exception(exc)
                    raise
        finally:
            self.stop.set()


def preflight_check(config: Config) -> None:
    """The run command's program exists (EnvironmentProblem, exit 3, naming it otherwise;
    with a runner the command runs elsewhere: the runner checks what it needs itself), and
    ``agent: tune`` has constants to tune (ConfigError)."""
    if not config.runner:
        preflight.check(config.run_command, config.project_dir)
    if config.agent == "tune":
        tune.require_tunable(config.project_dir, config.targets)


def agent_settings(c: Config) -> AgentSettings:
    return AgentSettings(model=c.agent_model, extra_args=tuple(c.agent_args),
                         timeout_s=c.agent_timeout, max_turns=c.agent_max_turns,
                         budget_usd=c.agent_budget_usd, command=c.agent_command,
                         skip_permissions=c.agent_skip_permissions, seed=c.agent_seed)


__all__ = ["Bounds", "CrashingError", "LoopRun", "loop_command"]
