"""The coordinator's half of the one cycle: tickets, judging, logging, moving the best.

Only the coordinator judges (decide + check_command), logs (the ledger and its mirrors) and
moves the best; it runs on the loop's main thread. Workers ask it for a ticket (the best to
start from and the prompt), tell it an agent failed, and hand it candidates; it answers each
candidate with a step: measure it on the current best, or done (logged). A candidate made on
an older best that does not beat the current one is discarded ("not better than the current
best (made on an older best)"); one that does is moved onto the current best and measured
again before it can be kept.

The search (autoresearch/search/) acts here too: before each ask it may stop on a plateau,
pivot (branch from a near-miss, or combine two) or hand the ask to the tuner (agent X+tune);
a candidate that repeats a measured one is logged as ``duplicate`` and not run; with
``screen_command`` a cheap run decides whether the full run is worth it.
"""

from __future__ import annotations

import difflib
import functools
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from autoresearch import decide, faults, holdout, incumbent, project_copy, prompt
from autoresearch.agents.base import AgentFailure, AgentSettings
from autoresearch.branch import Branch
from autoresearch.config import Config
from autoresearch.decide import Decision
from autoresearch.engine import Engine
from autoresearch.errors import AgentError, ConfigError, CrashingError
from autoresearch.experiment import Experiment, Measurement
from autoresearch.git import Repo
from autoresearch.history import History
from autoresearch.judge import Judge, remembered_holdouts
from autoresearch.live import Live
from autoresearch.mirrors import Ledger
from autoresearch.output import Console, safe
from autoresearch.runner import tail
from autoresearch.search import hybrid, nearmiss, screening, sections, tuning
from autoresearch.search.normalise import change, change_key, fingerprint
from autoresearch.search.novelty import Duplicate
from autoresearch.search.plateau import Plateau
from autoresearch.search.state import SearchState
from autoresearch.state import Layout
from autoresearch.worker import DONE, NO_CHANGE, Candidate, Committed, Measure, Ticket

OLDER_BEST = "not better than the current best (made on an older best)"
CONFLICT = "does not apply to the current best (made on an older best)"
ADOPTED = "adopted: a commit added to the branch by hand"
BACKOFF_MAX_S = 60.0


@dataclass
class Context:
    """What every worker shares (read-only, but for the thread-safe live status)."""

    config: Config
    layout: Layout
    repo: Repo
    engine: Engine
    agent: Any
    agent_settings: AgentSettings
    live: Live
    console: Console
    backoff_s: float = 2.0
    coordinator: "Coordinator | None" = None
    workspaces: dict = field(default_factory=dict)  # worker number -> Workspace (0: its own)
    sandbox: str = "basic"  # the agent's seal in force (sandbox.probe)
    hidden_from_agent: tuple = ()  # paths a strictly sealed agent cannot see
    sealed_files: tuple = ()  # project files never in the agent's copy (the holdout's)
    notifier: Any = None  # notify.Notifier: hooks and the webhook, off the loop's thread
    tuner: Any = None  # agent X+tune: the tuner taking turns with the model

    def tick(self, worker: int, phase: str, elapsed: float, limit: float) -> None:
        self.live.tick(worker, phase, elapsed, limit)
        if self.coordinator is not None and self.coordinator.workers == 1:
            self.console.status(f"#{self.coordinator.history.next_number} {phase}: "
                                f"{elapsed:.0f}s / {limit:.0f}s")



@dataclass
class Session:
    started: float = field(default_factory=time.monotonic)
    counts: Counter = field(default_factory=Counter)
    cost_usd: float = 0.0
    agent_failures_in_row: int = 0
    in_flight: dict[int, str] = field(default_factory=dict)  # worker -> what it tries

    @property
    def experiments(self) -> int:
        return sum(self.counts.values())


class Coordinator:
    def __init__(self, context: Context, *, tag: str, ledger: Ledger, history: History,
                 branch: Branch, bounds: Any, workers: int = 1,
                 search: SearchState | None = None):
        self.c = context
        self.config = context.config
        self.tag = tag
        self.ledger = ledger
        self.history = history
        self.branch = branch
        self.bounds = bounds
        self.workers = workers
        self.session = Session()
        self.holders: set[int] = set()  # workers holding a ticket not yet logged
        self.stopping: str | None = None
        self.rewrites_seen: set[str] = set()
        self.policy = policy(context.config)
        self.judging = Judge(self)
        self.judging.holdouts.update(remembered_holdouts(history))
        # The last keep whose holdout passed (or was recorded, as the baseline's is).
        self.verified: str | None = next((kept.commit for kept in reversed(history.keeps)
                                          if kept.more.get("holdout") is not None), None)
        self.search = search or new_search(context.config)
        self.tuner_memory = tuning.TunerMemory(context.config.metric_direction) \
            if context.tuner is not None else None
        self.best_screened: tuple[str, float] | None = None  # (the best's sha, its screen)
        self.savings = screening.Savings()
        context.coordinator = self
        if self.tuner_memory is not None and history.best_commit:
            self._follow_structure(history.best_commit)

    @property
    def best_sha(self) -> str:
        sha = self.history.best_commit
        assert sha is not None, "the loop starts only with a baseline"
        return sha

    # -- tickets ----------------------------------------------------------------------------
    def bound_reached(self, in_flight: int = 0) -> str | None:
        elapsed = time.monotonic() - self.session.started
        return self.bounds.reached(self.session.experiments + in_flight, elapsed,
                                   self.session.cost_usd)

    def ticket(self, worker: int) -> Ticket | None:
        """The best and the prompt for ``worker``'s next candidate; None once a bound is
        reached (counting the candidates in flight)."""
        if self.stopping or self.bound_reached(len(self.holders)):
            return None
        self._adopt_user_commits()
        if self.bound_reached(len(self.holders)):
            return None
        best = self.best_sha
        ask = self.search.next_ask(worker, can_tune=self._can_tune(best))
        if ask.stop:
            self.stopping = "plateau"
            self.c.console.info(f"plateau: {self.search.without_keep} experiments in a row "
                                "without a keep (stop_after_plateau)")
            return None
        self.holders.add(worker)
        start = ask.start or best
        self.c.live.phase(worker, "agent", limit_s=self.config.agent_timeout)
        others = tuple(idea for number, idea in self.session.in_flight.items()
                       if number != worker)
        listing = project_copy.committed(self.c.repo, start,
                                         self.c.layout.project_path,
                                         exclude=self.c.sealed_files)
        tune = ask.proposer == hybrid.TUNE
        extra = ask.sections if tune else ask.sections + self._tuner_section()
        if ask.plan is not None:
            self.c.console.info(f"pivot after {self.search.without_keep} experiments without a "
                                f"keep: {ask.plan.kind} " + ", ".join(
                                    f"#{m.number}" for m in ask.plan.misses))
        return Ticket(best, self._prompt(others, extra),
                      committed_targets(self.c, start, listing), listing,
                      agent=self.c.tuner if tune else None, proposer=ask.proposer,
                      start=ask.start,
                      combines=tuple(m.number for m in ask.plan.misses)
                      if ask.plan and ask.plan.kind == nearmiss.COMBINE else ())

    def _prompt(self, others: tuple[str, ...], search: tuple[str, ...] = ()) -> str:
        h = self.history
        best = h.best_experiment
        crash = h.last_crash()
        return prompt.build(prompt.PromptContext(
            project_type=self.config.project_type, target_files=self.config.targets,
            readonly_files=self.config.protected_files, metric_name=self.config.metric_name,
            direction=self.config.metric_direction, run_command=self.config.run_command,
            time_budget_s=self.config.time_budget, timeout_s=self.config.timeout,
            best_value=h.best_value, best_commit=best.short_commit if best else None,
            baseline_value=h.baseline_value, recent=tuple(h.recent), keeps=tuple(h.keeps),
            total=h.total, crash_log_tail=self._crash_log(crash),
            crash_cause=crash.error if crash else None,
            instructions=self._instructions(), others_in_flight=others, search=search))

    def _crash_log(self, crash: Experiment | None) -> str | None:
        if crash is None or not crash.commit:
            return None
        log = self.c.engine.sample_log(crash.commit)
        return tail(log, 2000) if log.is_file() else None

    def _instructions(self) -> str | None:
        if self.config.instructions:
            return self.config.instructions
        program = self.c.layout.project / "program.md"
        if program.is_file():
            return program.read_text(encoding="utf-8", errors="replace")
        return None

    def _adopt_user_commits(self) -> None:
        """A commit the user added on top of the branch is measured and continued from."""
        tip = self.branch.added_by_user(self.best_sha)
        if tip is None or any(kept.commit == tip for kept in self.history.keeps):
            return  # nothing new, or a keep of the tool's that a holdout reverted
        self.c.console.info(f"the branch has a commit added by hand ({tip[:7]}); measuring it "
                            "and continuing from it")
        subject = self.c.repo.commit_message(tip).strip().splitlines()[0] if \
            self.c.repo.commit_message(tip).strip() else tip[:7]
        adopted = Candidate(subject, self.best_sha, tip, worker=0)
        measurement = self.c.engine.measure(tip, self.c.workspaces[0])
        if measurement.value is not None:  # kept: the best ref moves to it, as for any keep
            self.branch.record_best(tip, self.best_sha)
        self._log(adopted, measurement, Decision("keep", ADOPTED) if measurement.value
                  is not None else Decision("crash", measurement.error or "crash"))
        if measurement.value is None:
            raise CrashingError(f"the commit {tip[:7]} added to {self.branch.name} by hand "
                                f"crashes ({measurement.error}); fix it or reset the branch "
                                f"to the best ({self.branch.best_ref}) and run loop again")

    # -- agent failures ---------------------------------------------------------------------
    def agent_failed(self, worker: int, failure: AgentFailure) -> float:
        """Log one agent failure; stop at the limit; the pause before the worker tries again."""
        self.holders.discard(worker)
        if failure.reason.startswith(NO_CHANGE):
            self.search.no_change(worker)
        n = self.session.agent_failures_in_row + 1
        details: dict[str, Any] = {"tag": self.tag, "agent": self.config.agent,
                                   "error": failure.reason,
                                   "output_tail": failure.output_tail[-1500:], "consecutive": n}
        if self.workers > 1:
            details["worker"] = worker
        self.ledger.append("agent_failed", "fail", details)
        self._count_agent_failure(worker, failure.reason)
        return min(self.c.backoff_s * 2 ** (n - 1), BACKOFF_MAX_S)

    def _count_agent_failure(self, worker: int, reason: str) -> None:
        """One more failure in a row (a duplicate counts too); stop at the limit."""
        self.session.agent_failures_in_row += 1
        n = self.session.agent_failures_in_row
        where = f" (worker {worker})" if self.workers > 1 else ""
        self.c.console.warn(f"agent {self.config.agent}{where} failed "
                            f"({n}/{self.config.agent_max_failures} in a row): {safe(reason)}")
        if n >= self.config.agent_max_failures:
            raise AgentError(f"agent '{self.config.agent}' failed {n} times in a row; last: "
                             f"{safe(reason)} (details in "
                             f"{self.c.layout.agent_dir / f'w{worker}'})")

    def _duplicate(self, worker: int, candidate: Candidate, repeat: Duplicate) -> None:
        """A candidate that repeats a measured one: logged, not run, counted as a failure."""
        self.holders.discard(worker)
        details: dict[str, Any] = {"tag": self.tag, "of": repeat.of, "reason": repeat.reason,
                                   "description": candidate.description,
                                   "commit": (candidate.commit or "")[:7],
                                   "fingerprint": candidate.fingerprint,
                                   "proposer": candidate.proposer}
        if self.workers > 1:
            details["worker"] = worker
        self.ledger.append("duplicate", "fail", details)
        if candidate.commit:
            (self.c.layout.pending / f"{candidate.commit}.json").unlink(missing_ok=True)
        if candidate.raw is not None:
            self._agent_of(candidate).observe(candidate.raw, None, "discard")
        self.c.live.phase(worker, "idle")
        self._count_agent_failure(worker, f"duplicate: {repeat.reason}")

    # -- candidates -------------------------------------------------------------------------
    def started(self, worker: int, candidate: Candidate) -> None:
        """A candidate's measurement begins: experiment_start, the live status."""
        self.c.live.phase(worker, "run", limit_s=self.config.timeout,
                          description=candidate.description, commit=candidate.commit,
                          log=self.c.engine.sample_log(candidate.commit))
        self.session.in_flight[worker] = candidate.description
        details: dict[str, Any] = {"idea": candidate.description,
                                   "commit": candidate.commit[:7], "tag": self.tag}
        if self.workers > 1:
            details["worker"] = worker
            if candidate.made_as:
                details["rebased_from"] = candidate.made_as[:7]
        self.ledger.append("experiment_start", "in_progress", details)

    def consider(self, worker: int, candidate: Candidate) -> Measure | Any:
        """What to do with a candidate: measure it on the current best, or log it (done)."""
        if candidate.rejection:
            self._log(candidate, None, Decision("crash", candidate.rejection))
            return DONE
        if candidate.conflict:
            self._log(candidate, None, Decision("discard", CONFLICT))
            return DONE
        if candidate.fingerprint is None and candidate.commit:
            texts = self._texts(candidate.commit)
            candidate.fingerprint = fingerprint(texts)
            candidate.change = change(self._texts(candidate.base), texts)
            repeat = self.search.duplicate(worker, candidate.fingerprint, candidate.change,
                                           candidate.description)
            if repeat is not None:
                self._duplicate(worker, candidate, repeat)
                return DONE
        if candidate.measurement is None:
            return self._screened(worker, candidate)
        measurement = candidate.measurement
        if self.config.screen_command:
            self.savings.full_run(measurement.duration_s)
        self._note_rewrites(measurement)
        best = self.history.best()
        if candidate.base != self.best_sha:  # the best moved while it was measured
            measurement = self.judging.outputs_checked(measurement, self.best_sha)
            decision = self.judging.aggregate_verdict(measurement, best)
            if decision.status == "keep":
                return Measure(self.best_sha)
            if decision.status == "discard" and self._beat_its_base(candidate):
                decision = Decision("discard", OLDER_BEST)
            self._log(candidate, measurement, decision)
            return DONE
        faults.point("before_decide")
        verdict = self.judging.verdict(worker, candidate)
        decision = verdict.decision
        if decision.status == "keep":
            self.branch.record_best(candidate.commit, self.history.best_commit)
        elif decision.reason == holdout.REGRESSED:
            self._revert_unverified()
        faults.point("before_log")
        self._log(candidate, verdict.measurement, decision, more=verdict.more)
        self._remeasure_if_due()
        return DONE

    def holdout_base(self) -> str:
        """The commit whose holdout a candidate's is compared with: the last keep whose
        holdout passed (the current best, unless holdout_every skipped some)."""
        return self.verified or self.best_sha

    def _revert_unverified(self) -> None:
        """With holdout_every > 1 a failed holdout moves the best back to the last keep that
        passed; each keep since gets a ``revert`` record (their experiment records stay)."""
        verified = self.holdout_base()
        if verified == self.best_sha:
            return
        undone = []
        for kept in reversed(self.history.keeps):
            if kept.commit == verified:
                break
            undone.append(kept)
        for kept in undone:
            self.ledger.append("revert", "success", {
                "tag": self.tag, "commit": kept.commit, "to": verified,
                "reason": "holdout regressed after it"})
        self.branch.rewind(verified, self.best_sha)
        self.history.revert_to(verified)
        self.judging.keeps_unverified = 0
        self.c.console.warn(f"the holdout regressed: the best is back at {verified[:7]} "
                            f"({len(undone)} keep(s) reverted)")

    def _remeasure_if_due(self) -> None:
        """Every ``remeasure_every`` experiments the best runs again and its samples are
        pooled: a best that only looked good once loses its lead."""
        every = self.config.remeasure_every
        if not incumbent.remeasure_due(self.session.experiments, every) or \
                self.history.best() is None:
            return
        best_sha = self.best_sha
        samples = self.c.engine.calibrate(best_sha, self.c.workspaces[0], self.config.repeats)
        if len(samples) < self.config.repeats:
            self.c.console.warn(f"re-measuring the best {best_sha[:7]} crashed; its value stands")
            return
        pooled = incumbent.pool(self.history.best(), samples, self.config.aggregate)
        details = {"tag": self.tag, "commit": best_sha, "samples": samples,
                   "pooled_samples": list(pooled.samples), "value": pooled.value,
                   "noise_floor": pooled.noise_floor}
        self.ledger.append("remeasure", "success", details)
        self.history.pool(details)
        self.c.console.info(f"re-measured the best {best_sha[:7]}: {self.config.metric_name} "
                            f"{pooled.value:.6f} over {len(pooled.samples)} runs")

    # -- screening --------------------------------------------------------------------------
    def _screened(self, worker: int, candidate: Candidate) -> Measure | Any:
        """With screen_command: the screen run first, then its verdict; else the full run."""
        if not self.config.screen_command or candidate.screen_passed:
            return Measure(self.best_sha)
        if candidate.screened is None:
            known = self.best_screened and self.best_screened[0] == self.best_sha
            return Measure(self.best_sha, screen=True, screen_best=not known)
        theirs = candidate.best_screened
        if theirs is not None and theirs["value"] is not None:
            self.best_screened = (self.best_sha, theirs["value"])
        ours = candidate.screened
        best = self.best_screened[1] if self.best_screened and \
            self.best_screened[0] == self.best_sha else None
        margin = self.config.screen_margin
        decision = screening.verdict(ours["value"], best, margin.amount, margin.relative,
                                     self.config.metric_direction,
                                     crash_reason=ours["value"] is None and ours["error"])
        self.savings.screened(ours["duration_s"] + (theirs["duration_s"] if theirs else 0.0),
                              full_run_follows=decision is None)
        if decision is not None:
            self._log(candidate, None, decision, more={"screened": ours["value"]})
            return DONE
        candidate.screen_passed = True
        return Measure(self.best_sha)

    # -- the search's bookkeeping ------------------------------------------------------------
    @functools.lru_cache(maxsize=8)  # noqa: B019 - one coordinator per loop; commits never change
    def _texts(self, sha: str) -> dict[str, str]:
        """The targets' texts at ``sha`` (project-relative names); read once per commit for
        the duplicate check, the near-miss diff and the tuner's observation."""
        return {t: (self.c.repo.file_at(sha, self.c.layout.in_repo(t)) or b"")
                .decode("utf-8", "replace") for t in self.config.targets}

    @functools.lru_cache(maxsize=4)  # noqa: B019
    def _params(self, sha: str) -> tuple:
        """The tuner's constants in the targets at ``sha`` (empty when there are none)."""
        return tuple(tuning.params_of(self._texts(sha)) or ())

    def _can_tune(self, best: str) -> bool:
        return self.c.tuner is not None and bool(self._params(best))

    def _tuner_section(self) -> tuple[str, ...]:
        """The model's note of the constants the tuner owns (agent X+tune)."""
        memory = self.tuner_memory
        best = self.history.best()
        if memory is None or best is None:
            return ()
        params = self._params(self.best_sha)
        told = tuning.notes(memory.study(), self.config.metric_direction, self._within(best),
                            frozenset(p.key for p in params if p.is_int))
        return (sections.tuner(told, [p.key for p in params]),) if told and params else ()

    def _follow_structure(self, sha: str, observation: tuning.Observation | None = None
                          ) -> None:
        """The tuner's study follows the best's structure (warm restart when it changes)."""
        observation = observation or tuning.observe(0, self._texts(sha), None)
        if observation is not None and self.tuner_memory.on_keep(observation):
            self.c.tuner.restart(self.tuner_memory.structure, self.tuner_memory.study())

    def _within(self, best: decide.Best) -> float:
        near = self.config.near_miss
        return nearmiss.margin(best, near.amount if near else None,
                               near.relative if near else False)

    def _agent_of(self, candidate: Candidate):
        return self.c.tuner if candidate.proposer == hybrid.TUNE and self.c.tuner \
            else self.c.agent

    def _searched(self, candidate: Candidate, logged: Experiment, best_before) -> None:
        """What the search learns from a logged experiment."""
        self.search.logged(candidate.worker, logged.number, logged.status,
                           logged.description, candidate.fingerprint, candidate.change,
                           logged.delta)
        value = logged.value
        if best_before is not None and value is not None and logged.commit:
            within = self._within(best_before)
            if logged.kept:
                self.search.kept(value, within)
                if candidate.screened is not None and candidate.screened["value"] is not None:
                    self.best_screened = (candidate.commit, candidate.screened["value"])
            elif logged.status == "discard" and candidate.commit and decide.improvement(
                    value, best_before.value, self.config.metric_direction) >= -within:
                before, after = self._texts(candidate.base), self._texts(candidate.commit)
                diff = tuple(line for t in self.config.targets for line in difflib.unified_diff(
                    before[t].splitlines(), after[t].splitlines(), lineterm="", n=0)
                    if not line.startswith(("---", "+++", "@@")))
                self.search.offer_near_miss(nearmiss.NearMiss(
                    logged.number, candidate.commit, candidate.base, value,
                    logged.description, diff), best_before.value, within)
        if self.tuner_memory is not None and candidate.commit:
            observation = tuning.observe(logged.number, self._texts(candidate.commit),
                                         value if logged.status != "crash" else None)
            if observation is None:
                return
            self.tuner_memory.add(observation)
            if candidate.proposer != hybrid.TUNE and \
                    observation.structure == self.tuner_memory.structure:
                self.c.tuner.learn([observation])
            if logged.kept:
                self._follow_structure(candidate.commit, observation)

    def _note_rewrites(self, measurement: Measurement) -> None:
        """Say once that the run rewrites tracked files (reverted after every run)."""
        new = set(measurement.rewritten) - self.rewrites_seen
        if new:
            self.rewrites_seen |= new
            self.c.console.warn(f"the run rewrites tracked files ({', '.join(sorted(new)[:5])}); "
                                "they are reverted after every run and never count against "
                                "a candidate")

    def _beat_its_base(self, candidate: Candidate) -> bool:
        for kept in reversed(self.history.keeps):
            if kept.commit == candidate.base and kept.value is not None:
                at_base = decide.Best(kept.value, kept.samples, kept.code_lines,
                                      self.history.noise_floor)
                return self.judging.aggregate_verdict(candidate.measurement,
                                                      at_base).status == "keep"
        return False

    def _workspace_of(self, worker: int):
        return self.c.workspaces[worker]

    # -- logging --------------------------------------------------------------------------
    def _log(self, candidate: Candidate, measurement, decision: Decision, *,
             baseline: bool = False, more: dict | None = None) -> Experiment:
        h = self.history
        parallel = self.workers > 1
        experiment = Experiment(
            number=h.next_number, tag=self.tag, metric=self.config.metric_name,
            direction=self.config.metric_direction, description=candidate.description,
            decision=decision, commit=candidate.commit if candidate.rejection is None else None,
            measurement=measurement, prev=h.best_value,
            error=(measurement.error if measurement and measurement.error else None)
            if decision.status == "crash" else None,
            agent=candidate.agent,
            worker=candidate.worker if parallel else None,
            base=candidate.base[:7] if parallel else None,
            rebased_from=candidate.made_as[:7] if parallel and candidate.made_as else None)
        if candidate.ignored:
            experiment = experiment.with_more(ignored_files=list(candidate.ignored[:20]))
        if candidate.fingerprint:
            experiment = experiment.with_more(fingerprint=candidate.fingerprint,
                                              change=change_key(candidate.change))
        if candidate.branched_from:
            experiment = experiment.with_more(branched_from=candidate.branched_from[:7])
        if candidate.combines:
            experiment = experiment.with_more(combines=list(candidate.combines))
        if candidate.proposer == hybrid.TUNE and self.c.tuner is not None:
            experiment = experiment.with_more(proposer=hybrid.TUNE)
        if more:
            experiment = experiment.with_more(**more)
        if measurement is not None and measurement.jobs:
            experiment = experiment.with_more(jobs=list(measurement.jobs))
        best_before = h.best()
        logged = self.ledger.append_experiment(experiment)
        h.add(logged)
        self._searched(candidate, logged, best_before)
        if logged.kept and logged.more.get("holdout") is not None:
            self.verified = logged.commit
        if candidate.commit:
            (self.c.layout.pending / f"{candidate.commit}.json").unlink(missing_ok=True)
        if baseline:
            self.c.console.info(f"baseline {self.config.metric_name}: " + (
                f"{logged.value:.6f}" if logged.value is not None
                else f"crash ({safe(logged.error or logged.reason)})"))
            return logged
        self.holders.discard(candidate.worker)
        self.session.counts[decision.status] += 1
        self.session.cost_usd += logged.cost_usd
        self.session.agent_failures_in_row = 0
        self.session.in_flight.pop(candidate.worker, None)
        self._report(logged)
        self.c.notifier.fire(logged.status, logged)
        if candidate.raw is not None:
            self._agent_of(candidate).observe(candidate.raw, logged.value, decision.status)
        self.c.live.phase(candidate.worker, "idle")
        limit = self.config.max_consecutive_crashes
        if h.crashes_in_row >= limit:
            raise CrashingError(f"{h.crashes_in_row} experiments in a row crashed "
                                f"(max_consecutive_crashes {limit}); last: "
                                f"{safe(logged.error or logged.reason)}; fix the cause, then "
                                "run loop again")
        return logged

    def log_baseline(self, commit: str, measurement) -> Experiment:
        self._note_rewrites(measurement)  # setup's baseline is the first run a user sees
        decision = self.judging.aggregate_verdict(measurement, None)
        more = {}
        if self.config.holdout_command and decision.status == "keep":
            more["holdout"] = self.judging.holdout_of(commit, self.c.workspaces[0])
        baseline = Candidate("baseline", commit, commit, worker=1,
                             fingerprint=fingerprint(self._texts(commit)))
        return self._log(baseline, measurement, decision, baseline=True, more=more)

    def _report(self, e: Experiment) -> None:
        status = e.status + (f" ({safe(e.reason)})" if e.reason else "")
        delta = f"{e.delta:+.6f}" if e.delta is not None else "—"
        value = f"{e.value:.6f}" if e.value is not None else "crash"
        cost = f" ${e.cost_usd:.3f}" if e.cost_usd else ""
        duration = e.measurement.duration_s if e.measurement else 0.0
        line = (f"#{e.number:<4} {e.short_commit:<7}  {self.config.metric_name} {value}  "
                f"{delta}  {status}  {duration:.1f}s{cost}  {safe(e.description)}")
        colour = ("1", "32") if e.kept else ("31",) if e.crashed else ()
        self.c.console.info(self.c.console.style(line, *colour))

    def summary(self, stop_reason: str | None) -> dict[str, Any]:
        s = self.session
        summary = {"stopped": stop_reason, "experiments": s.experiments,
                   "kept": s.counts["keep"], "discarded": s.counts["discard"],
                   "crashed": s.counts["crash"], "cost_usd": round(s.cost_usd, 4),
                   "baseline": self.history.baseline_value, "best": self.history.best_value,
                   "best_commit": self.history.best_commit}
        if self.config.screen_command:
            summary["screened_out"] = self.savings.spared
            summary["screen_saved_s"] = round(self.savings.saved_s, 1)
        return summary


def new_search(config: Config) -> SearchState:
    """The search's state for a loop of ``config`` (``replay`` fills it from the ledger)."""
    return SearchState(
        plateau=Plateau(config.pivot_after, config.stop_after_plateau),
        pool=nearmiss.NearMissPool(config.near_miss_pool, config.metric_direction),
        with_tuner=hybrid.split_agent(config.agent)[1], tune_share=config.tune_share,
        seed=config.agent_seed, lower_is_better=config.metric_direction == "lower_is_better")


def policy(config: Config) -> decide.Policy:
    return decide.Policy(direction=config.metric_direction, min_delta=config.min_delta.amount,
                         min_delta_relative=config.min_delta.relative,
                         aggregate=config.aggregate)


def committed_targets(context: Context, best: str, listing: dict) -> tuple[Committed, ...]:
    """The targets as ``best`` has them; each must be a regular file tracked there."""
    found = []
    for target in context.config.targets:
        entry = listing.get(target)
        if entry is None or not entry.regular_file:
            what = "is not tracked" if entry is None else \
                f"is not a regular file (mode {entry.git_mode})"
            raise ConfigError(f"target_file '{target}' {what} in commit {best[:7]}; the target "
                              "must be a regular file committed in the project")
        found.append(Committed(target, entry.git_mode, context.repo.blob(entry.oid)))
    return tuple(found)
