"""The loop: ask the agent, check what it did, commit, measure, keep or reset, log; again.

Without bounds it never stops (the seed's core rule). ``--iterations``, ``--max-time`` and
``--max-cost`` bound it for CI. Ctrl-C or SIGTERM kill what is running, restore the tree
to the best commit, log ``interrupted`` and exit 130/143; the next loop resumes.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoresearch import agents, faults, guard, hooks, ledger, output, prompt, runner
from autoresearch.agents.base import AgentFailure, AgentRequest, AgentSettings, Proposal
from autoresearch.config import Config, Invalid, parse_duration, resolve
from autoresearch.decide import Decision
from autoresearch.engine import STATE_DIR, Engine, read_json, write_json
from autoresearch.errors import AgentError, ConfigError, Interrupted, LockedError
from autoresearch.git import GitCommandError, Repo, open_repo
from autoresearch.history import History, log_experiment
from autoresearch.setup import (branch_for, check_tag, default_tag, establish_baseline,
                                prepare_files, require_clean, require_committed, tag_of_branch)

BACKOFF_BASE_S = float(os.environ.get("AUTORESEARCH_BACKOFF_S", "2"))  # test-only override
CYCLE_FILE = "cycle.json"  # the untracked files before the current cycle, for recovery
CHILDREN_DIR = "children"  # the agent/experiment processes running now, for recovery
RECOVERED_DIR = "recovered"  # where recovery moves files created during a killed cycle


@dataclass
class Bounds:
    iterations: int = 0  # 0 = no bound
    max_time_s: float | None = None
    max_cost_usd: float | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "Bounds":
        max_time = max_cost = None
        try:  # an empty value (--max-time "$UNSET") is an error, not "no bound"
            if options.get("max_time") is not None:
                max_time = parse_duration(options["max_time"])
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

    def reached(self, done: int, elapsed_s: float, cost: float) -> str | None:
        if self.iterations and done >= self.iterations:
            return f"{done} iterations"
        if self.max_time_s is not None and elapsed_s >= self.max_time_s:
            return f"max time {self.max_time_s:g} s"
        if self.max_cost_usd is not None and cost >= self.max_cost_usd:
            return f"max cost ${self.max_cost_usd:g}"
        return None


@dataclass
class Session:
    experiments: int = 0
    kept: int = 0
    discarded: int = 0
    crashed: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    agent_failures_in_row: int = 0

    def count(self, status: str) -> None:
        self.experiments += 1
        if status == "keep":
            self.kept += 1
        elif status == "discard":
            self.discarded += 1
        else:
            self.crashed += 1


class Lock:
    """One loop per repository: an flock on .autoresearch/loop.lock (released on death)."""

    def __init__(self, state: Path):
        state.mkdir(parents=True, exist_ok=True)
        self.path = state / "loop.lock"
        self._fd: int | None = None

    def __enter__(self) -> "Lock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(f"another autoresearch loop (pid {holder}) is running in this "
                              "repository; stop it first or wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Signals:
    """SIGINT and SIGTERM raise Interrupted, so running work is killed and the tree restored."""

    def __enter__(self) -> "Signals":
        self._previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for sig in self._previous:
            signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise Interrupted(signum)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def loop_command(project: Path, flags: dict[str, Any], options: dict[str, Any]) -> None:
    output.set_quiet(bool(options.get("quiet")))
    output.set_progress_to_stderr(bool(options.get("json")))  # stdout is the JSON alone
    bounds = Bounds.from_options(options)
    config = resolve(project, flags)
    agent = agents.get(config.agent)
    agents.ensure_available(agent)
    from autoresearch import devices, parallel  # parallel imports this module

    plan = devices.plan(options)  # --jobs, --gpus, --prefetch
    with open_repo(project) as repo, Lock(repo.root / STATE_DIR), Signals():
        tag = _start_branch(repo, config, options.get("tag"))
        loop = parallel.make_loop(config, repo, tag, agent, plan)
        summary = loop.run(bounds)
    if options.get("json"):
        output.result(json.dumps(summary, indent=2))


def _start_branch(repo: Repo, config: Config, tag: str | None) -> str:
    """Be on autoresearch/<tag>: the current one, an existing one, or a new one (setup)."""
    current = tag_of_branch(repo.current_branch())
    tag = check_tag(tag or current or default_tag())
    branch = branch_for(tag)
    require_committed(repo)
    if repo.current_branch() != branch:
        require_clean(repo)
        if repo.branch_exists(branch):
            repo.checkout(branch)
        else:
            repo.create_branch(branch)
            repo.checkout(branch)
        output.info(f"on branch {branch}")
    prepare_files(repo)
    hooks.install(repo, config.targets)
    return tag


class Loop:
    def __init__(self, config: Config, repo: Repo, tag: str, agent):
        self.config = config
        self.repo = repo
        self.root = repo.root
        self.tag = tag
        self.agent = agent
        self.state = self.root / STATE_DIR
        self.status = output.StatusLine()
        self.engine = Engine(config, repo, on_tick=self._tick)
        self.history = History.load(self.root, tag)
        self.session = Session()
        self.hook_only_ours = hooks.only_ours(repo)
        runner.track_children(self.state / CHILDREN_DIR)

    # -- the whole run -------------------------------------------------------
    def run(self, bounds: Bounds) -> dict[str, Any]:
        """Recover, measure the baseline if needed, run cycles until a bound; log the session."""
        events = self.root / ledger.EVENTS_FILE
        self._recover()
        if not self.history.records:
            establish_baseline(self.config, self.repo, self.tag)
            self.history = History.load(self.root, self.tag)
        trigger = "bounded" if bounds.iterations or bounds.max_time_s or bounds.max_cost_usd \
            else "manual"
        ledger.append_event(events, "session_start", "in_progress",
                            {"tag": self.tag, "trigger": trigger, "agent": self.config.agent,
                             **self._session_details()})
        try:
            stop_reason = self._run_cycles(bounds)
        except Interrupted as interrupt:
            self.status.clear()
            self._stop_work()
            self._restore_best()
            self._end_cycle()
            ledger.append_event(events, "interrupted", "fail", {
                "tag": self.tag, "signal": signal.Signals(interrupt.signum).name,
                "experiments": self.session.experiments})
            output.info(f"interrupted: {self._interrupted_note()}tree restored to the best "
                        f"commit {(self.history.best()[1] or '')[:7]}")
            raise
        summary = {**self.summary(stop_reason), **self._session_details()}
        ledger.append_event(events, "session_end", "success", {"tag": self.tag, **summary})
        output.info(f"stopped after {stop_reason}: {summary['experiments']} experiments, "
                    f"{summary['kept']} kept; best {self.config.metric_name} "
                    f"{_fmt(summary['best'])} ({(summary['best_commit'] or '')[:7]})")
        return summary

    # -- what a parallel loop does differently (parallel.ParallelLoop) -------------
    def _run_cycles(self, bounds: Bounds) -> str:
        """Cycle until a bound is reached; return which."""
        while True:
            elapsed = time.monotonic() - self.session.started
            stop_reason = bounds.reached(self.session.experiments, elapsed, self.session.cost_usd)
            if stop_reason:
                return stop_reason
            self.cycle()

    def _session_details(self) -> dict[str, Any]:
        return {}

    def _stop_work(self) -> None:
        """Stop what runs besides this thread (nothing in the serial loop)."""

    def _interrupted_note(self) -> str:
        return ""

    def summary(self, stop_reason: str | None) -> dict[str, Any]:
        best, commit = self.history.best()
        return {"stopped": stop_reason, "experiments": self.session.experiments,
                "kept": self.session.kept, "discarded": self.session.discarded,
                "crashed": self.session.crashed, "cost_usd": round(self.session.cost_usd, 4),
                "baseline": self.history.baseline_value(),
                "best": best.value if best else None, "best_commit": commit}

    # -- recovery ------------------------------------------------------------
    def _best_commit(self) -> str:
        return self.history.best()[1] or self.repo.head_sha()

    def _recover(self) -> None:
        """After a hard kill: measure an unlogged experiment commit, restore a dirty tree.

        First the agent or experiment the killed loop left running is killed (it would
        go on editing the tree). Files created since the killed cycle began are moved to
        .autoresearch/recovered/ rather than deleted: the user may have made them since.
        """
        killed = runner.kill_leftovers(self.state / CHILDREN_DIR)
        if killed:
            output.info(f"resuming: stopped {len(killed)} process tree(s) left running by a "
                        f"killed loop (pid {', '.join(map(str, killed))})")
        head = self.repo.head_sha()
        best_commit = self.history.best()[1]
        cycle = read_json(self.state / CYCLE_FILE) or {}
        created = self._created_since(cycle)
        dirty = bool(self.repo.dirty_tracked()) or bool(created)
        if best_commit and head != best_commit:
            if dirty:
                self._restore_aside(head, created)
            if not self.history.logged(head) and self.repo.commit_message(head).startswith(
                    "experiment:"):
                output.info(f"resuming: measuring experiment {head[:7]} that was committed "
                            "but never logged")
                description = self.repo.commit_message(head).strip().splitlines()[0][
                    len("experiment:"):].strip()  # a parallel worker's has a trailer
                self._measure_and_decide(head, description, None, cycle.get("untracked", []))
            else:
                self.repo.restore(best_commit, set())
                output.info(f"resuming: reset to the best commit {best_commit[:7]}")
        elif dirty:
            self._restore_aside(head, created)
            output.info("resuming: restored the tree to the best commit (an interrupted "
                        "candidate was left in it)")
        self._end_cycle()

    def _restore_aside(self, rev: str, created: set[str]) -> None:
        aside = self.state / RECOVERED_DIR / time.strftime("%Y%m%dT%H%M%S")
        self.repo.restore(rev, created, move_to=aside)
        if created:
            output.info(f"resuming: moved {len(created)} file(s) created during the killed "
                        f"cycle to {aside.relative_to(self.root)}")

    def _end_cycle(self) -> None:
        """The tree is at a known state again: no cycle is in progress."""
        (self.state / CYCLE_FILE).unlink(missing_ok=True)

    def _created_since(self, cycle: dict) -> set[str]:
        if "untracked" not in cycle:
            return set()
        return self.repo.untracked() - set(cycle["untracked"])

    def _restore_best(self) -> None:
        cycle = read_json(self.state / CYCLE_FILE) or {}
        self.repo.restore(self._best_commit(), self._created_since(cycle))

    # -- one cycle -----------------------------------------------------------
    def cycle(self) -> None:
        self._cycle()
        self._end_cycle()

    def _cycle(self) -> None:
        before = guard.snapshot(self.repo, self.config.protected_files)
        write_json(self.state / CYCLE_FILE, {"untracked": sorted(before.untracked)})
        try:
            proposal = self._propose()
        except AgentFailure as failure:
            self._agent_failed(failure)
            return
        faults.point("after_agent")
        self.session.agent_failures_in_row = 0
        self.session.cost_usd += proposal.cost_usd or 0.0
        verdict = guard.check(self.repo, before, self.config.targets)
        description = proposal.description or self._diff_summary(verdict)
        if verdict.violation:
            self.repo.restore(self._best_commit(), set(verdict.created))
            self._log_rejected(description, verdict.violation, proposal)
            return
        faults.point("before_commit")
        try:
            sha = self.repo.commit_paths(list(self.config.targets), f"experiment: {description}",
                                         verify=not self.hook_only_ours)
        except GitCommandError as exc:
            self.repo.restore(self._best_commit(), set(verdict.created))
            self._log_rejected(description, f"commit refused: {exc}", proposal)
            return
        self._measure_and_decide(sha, description, proposal, sorted(before.untracked))

    def _propose(self) -> Proposal:
        request = AgentRequest(
            prompt=self._prompt(), project_dir=self.root, target_files=self.config.targets,
            work_dir=self.state / "agent", settings=self._agent_settings(),
            metric_name=self.config.metric_name, direction=self.config.metric_direction,
            on_tick=lambda elapsed: self._tick("agent", elapsed, self.config.agent_timeout))
        try:
            return self.agent.propose(request)
        finally:
            self.status.clear()

    def _agent_settings(self) -> AgentSettings:
        c = self.config
        return AgentSettings(model=c.agent_model, extra_args=tuple(c.agent_args),
                             timeout_s=c.agent_timeout, max_turns=c.agent_max_turns,
                             budget_usd=c.agent_budget_usd, command=c.agent_command,
                             skip_permissions=c.agent_skip_permissions, seed=c.agent_seed)

    def _prompt(self, others: tuple[str, ...] = ()) -> str:
        best, commit = self.history.best()
        return prompt.build(prompt.PromptContext(
            project_type=self.config.project_type, target_files=self.config.targets,
            readonly_files=self.config.protected_files, metric_name=self.config.metric_name,
            direction=self.config.metric_direction, run_command=self.config.run_command,
            time_budget_s=self.config.time_budget, best_value=best.value if best else None,
            best_commit=(commit or "")[:7] or None, baseline_value=self.history.baseline_value(),
            history=tuple(self.history.records), crash_log_tail=self._last_crash_log(),
            instructions=self._instructions(), others_in_flight=others))

    def _instructions(self) -> str | None:
        program = self.root / "program.md"
        if self.config.instructions:
            return self.config.instructions
        if program.is_file():
            return program.read_text(encoding="utf-8", errors="replace")
        return None

    def _last_crash_log(self) -> str | None:
        for record in reversed(self.history.records[-20:]):
            d = record["details"]
            if d.get("status") == "crash" and d.get("full_commit"):
                log = self.engine.sample_dir(d["full_commit"], 1) / "run.log"
                if log.is_file():
                    from autoresearch.runner import tail

                    return tail(log, 2000)
        return None

    def _diff_summary(self, verdict: guard.Verdict) -> str:
        try:
            stat = self.repo.run("diff", "--shortstat", "HEAD", "--", *self.config.targets)
        except GitCommandError:
            stat = ""
        return f"edit {', '.join(self.config.targets)}" + (f" ({stat.strip()})" if stat else "")

    def _agent_failed(self, failure: AgentFailure) -> None:
        self.status.clear()
        self._restore_best()
        self.session.agent_failures_in_row += 1
        n = self.session.agent_failures_in_row
        if n >= self.config.agent_max_failures:
            self._end_cycle()
        self._record_agent_failure(failure, n, {}, ".autoresearch/agent/")
        time.sleep(min(BACKOFF_BASE_S * 2 ** (n - 1), 60.0))

    def _record_agent_failure(self, failure: AgentFailure, n: int, where: dict[str, Any],
                              details_dir: str) -> None:
        """Log and report the n-th agent failure in a row; stop the loop at the limit."""
        ledger.append_event(self.root / ledger.EVENTS_FILE, "agent_failed", "fail", {
            "tag": self.tag, "agent": self.config.agent, "error": failure.reason,
            "output_tail": failure.output_tail[-1500:], "consecutive": n, **where})
        worker = f" (worker {where['worker']})" if "worker" in where else ""
        output.warn(f"agent {self.config.agent}{worker} failed "
                    f"({n}/{self.config.agent_max_failures} in a row): {failure.reason}")
        if n >= self.config.agent_max_failures:
            raise AgentError(f"agent '{self.config.agent}' failed {n} times in a row; last: "
                             f"{failure.reason} (details in {details_dir})")

    def _log_rejected(self, description: str, reason: str, proposal: Proposal) -> None:
        decision = Decision("crash", reason)
        record = log_experiment(self.config, self.root, self.history, tag=self.tag, commit=None,
                                description=description, measurement=None, decision=decision,
                                extra=_agent_details(proposal))
        self.agent.observe(proposal, None, "crash")
        self._report(record)

    def _measure_and_decide(self, sha: str, description: str, proposal: Proposal | None,
                            untracked_before: list[str]) -> None:
        events = self.root / ledger.EVENTS_FILE
        ledger.append_event(events, "experiment_start", "in_progress",
                            {"idea": description, "commit": sha[:7], "tag": self.tag})
        best, best_commit = self.history.best()
        try:
            measurement, decision = self.engine.evaluate(sha, best, best_commit)
        finally:
            self.status.clear()
        faults.point("before_log")
        record = log_experiment(self.config, self.root, self.history, tag=self.tag, commit=sha,
                                description=description, measurement=measurement,
                                decision=decision, extra=_agent_details(proposal))
        if decision.status != "keep":
            faults.point("before_reset")
            created = self.repo.untracked() - set(untracked_before)
            # No keep yet (the baseline crashed): back to the commit the experiment was made on.
            self.repo.restore(best_commit or f"{sha}^", created)
        if proposal is not None:
            self.agent.observe(proposal, measurement.value, decision.status)
        self._report(record)

    # -- output ------------------------------------------------------------
    def _tick(self, phase: str, elapsed: float, limit: float) -> None:
        self.status.update(f"#{self.history.next_number} {phase}: {elapsed:.0f}s / {limit:.0f}s")

    def _report(self, record: dict) -> None:
        d = record["details"]
        self.session.count(d["status"])
        status = d["status"] + (f" ({d['reason']})" if d.get("reason") else "")
        delta = f"{d['delta']:+.6f}" if isinstance(d.get("delta"), (int, float)) else "—"
        value = f"{d['value']:.6f}" if d["status"] != "crash" else "crash"
        cost = f" ${d['agent_cost_usd']:.3f}" if d.get("agent_cost_usd") else ""
        line = (f"#{d['number']:<4} {d['commit']:<7}  {self.config.metric_name} {value}  "
                f"{delta}  {status}  {d.get('duration_s', 0):.1f}s{cost}  {d['description']}")
        colour = ("1", "32") if d["status"] == "keep" else ("31",) if d["status"] == "crash" else ()
        output.info(output.style(line, *colour))


def _agent_details(proposal: Proposal | None) -> dict[str, Any]:
    if proposal is None:
        return {}
    return {"agent_cost_usd": proposal.cost_usd, "agent_s": round(proposal.duration_s, 3),
            "input_tokens": proposal.input_tokens, "output_tokens": proposal.output_tokens}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6f}"
