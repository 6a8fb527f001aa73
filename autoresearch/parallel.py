"""``loop --jobs N``: N workers make and measure candidates at once; one coordinator decides.

Each worker (workers.py) is a thread with a work tree of its own under
.autoresearch/worktrees/; all share the engine's cache (runs/<sha>, the content index),
since commits are objects every work tree sees. Finished candidates reach the coordinator
(the main thread) through a queue. It decides them one at a time against the best of that
moment, logs them (numbers stay sequential; logging stays in this thread) and moves the
branch, so the branch still advances one kept commit at a time:

- made on the current best: judged as the serial loop judges (check_command runs in the
  worker's tree); a keep fast-forwards the branch to the candidate's commit.
- made on an older best, and not better than the current best: discarded, with the reason
  "not better than the current best (made on an older best)" when it did beat the best it
  was made on.
- made on an older best, and better than the current best: sent back to its worker, which
  cherry-picks it onto the current best (conflicting hunks take the candidate's version),
  measures it again and hands it over again; it is judged on that measurement. When the
  picked tree equals the measured one (the target file did not change between its base
  and the current best) the engine's content dedupe reuses the measurement. Workers also
  do this before measuring when the best moved while the agent worked.

The main work tree stays at the best commit and is only ever fast-forwarded.

SIGINT/SIGTERM raise Interrupted here: the workers are stopped (their agent or experiment
killed), the main tree restored to the best commit, and every work tree removed.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from typing import Any

from autoresearch import decide, devices, faults, ledger, output, worktrees
from autoresearch.agents.base import AgentFailure
from autoresearch.config import Config
from autoresearch.decide import Decision
from autoresearch.devices import Plan
from autoresearch.engine import Measurement, policy
from autoresearch.git import Repo
from autoresearch.history import log_experiment
from autoresearch.loop import BACKOFF_BASE_S, Bounds, Loop, _agent_details
from autoresearch.workers import AGENT_LOCK, IN_PROCESS_AGENTS, Candidate, Worker, WorkerStopped

POLL_S = 0.1
JOIN_S = 30.0  # how long stopping workers may take (a tick, then the process-tree kill)
OLDER_BEST = "not better than the current best (made on an older best)"
CONFLICT = "does not apply to the current best (made on an older best)"  # rare: -X theirs


def make_loop(config: Config, repo: Repo, tag: str, agent, plan: Plan) -> Loop:
    """The loop for ``plan``; work trees a killed loop left behind are removed first."""
    stale = worktrees.clean_stale(repo)
    if stale:
        output.info(f"resuming: removed {len(stale)} work tree(s) left by a killed loop")
    if plan.parallel:
        return ParallelLoop(config, repo, tag, agent, plan)
    loop = Loop(config, repo, tag, agent)
    loop.engine.env = devices.environment(plan.devices[0])
    return loop


def judge(config: Config, measurement: Measurement, best: decide.Best | None) -> Decision:
    """The pure verdict on a measurement (without check_command)."""
    candidate = decide.Candidate(value=measurement.value, samples=measurement.samples,
                                 crash_reason=measurement.error,
                                 code_lines=measurement.code_lines)
    return decide.judge(candidate, best, policy(config))


class ParallelLoop(Loop):
    def __init__(self, config: Config, repo: Repo, tag: str, agent, plan: Plan):
        super().__init__(config, repo, tag, agent)
        self.plan = plan
        self.backoff_s = BACKOFF_BASE_S
        self.inbox: queue.Queue = queue.Queue()
        self.lock = threading.RLock()  # tickets, the history, the best, what is in flight
        self.stop = threading.Event()
        self.slots: queue.Queue = queue.Queue()
        for device in plan.devices:
            self.slots.put(device)
        self.bounds = Bounds()
        self.tickets = 0  # candidates handed out and not yet logged
        self.in_flight: dict[int, str] = {}  # worker number -> what it is trying
        self.best_sha = ""
        self.workers: list[Worker] = []
        self._closed = False

    # -- the whole run -------------------------------------------------------
    def _run_cycles(self, bounds: Bounds) -> str:
        self.bounds = bounds
        self.best_sha = self._best_commit()
        try:
            self._start_workers()
            self._coordinate()
        finally:
            self._shutdown()
        elapsed = time.monotonic() - self.session.started
        return bounds.reached(self.session.experiments, elapsed,
                              self.session.cost_usd) or "bounds reached"

    def _session_details(self) -> dict[str, Any]:
        return {"jobs": self.plan.jobs, "workers": self.plan.workers}

    def _stop_work(self) -> None:
        self._shutdown()

    def _interrupted_note(self) -> str:
        return "workers stopped, work trees removed, "

    def _start_workers(self) -> None:
        inside = self.config.project_dir.resolve().relative_to(self.root.resolve())
        for number in range(1, self.plan.workers + 1):
            path = worktrees.create(self.repo, f"w{number}", self.best_sha)
            worker = Worker(number, path, path / inside, self)
            self.workers.append(worker)
            worker.start()
        shown = ", ".join(d for d in self.plan.devices if d is not None)
        output.info(f"parallel: {self.plan.workers} workers, {self.plan.jobs} experiment(s) at "
                    f"once" + (f" on GPUs {shown}" if shown else ""))

    def _shutdown(self) -> None:
        """Stop the workers (killing what they run) and remove their work trees."""
        if self._closed:
            return
        self._closed = True
        self.stop.set()
        deadline = time.monotonic() + JOIN_S
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            worktrees.remove(self.repo, worker.path)
        self.repo.worktree_prune()

    # -- what workers ask (from their threads) -------------------------------
    def ticket(self, worker: Worker) -> tuple[str, str]:
        """The best to start from and the prompt, once the bounds allow another candidate."""
        while True:
            with self.lock:
                if self.stop.is_set():
                    raise WorkerStopped()
                if not self._bounded(self.tickets):
                    self.tickets += 1
                    others = tuple(idea for number, idea in self.in_flight.items()
                                   if number != worker.number)
                    return self.best_sha, self._prompt(others)
            if self.stop.wait(POLL_S):
                raise WorkerStopped()

    def flying(self, worker: Worker, description: str) -> None:
        with self.lock:
            self.in_flight[worker.number] = description

    def take_slot(self) -> str | None:
        """An experiment slot (its device), once one is free; WorkerStopped when stopped."""
        while True:
            try:
                return self.slots.get(timeout=POLL_S)
            except queue.Empty:
                if self.stop.is_set():
                    raise WorkerStopped() from None

    def _bounded(self, extra: int) -> str | None:
        elapsed = time.monotonic() - self.session.started
        return self.bounds.reached(self.session.experiments + extra, elapsed,
                                   self.session.cost_usd)

    # -- the coordinator (main thread) ---------------------------------------
    def _coordinate(self) -> None:
        while True:
            with self.lock:
                if self.tickets == 0 and self._bounded(0):
                    return
            try:
                kind, worker, payload = self.inbox.get(timeout=POLL_S)
            except queue.Empty:
                if not any(worker.is_alive() for worker in self.workers) and self.inbox.empty():
                    raise RuntimeError("every parallel worker stopped unexpectedly") from None
                continue
            self._handle(kind, worker, payload)

    def _handle(self, kind: str, worker: Worker, payload: Any) -> None:
        if kind == "error":
            raise payload
        if kind == "agent_failed":
            self._agent_failed_in(worker, payload)
        elif kind == "started":
            details = {"idea": payload.description, "commit": payload.sha[:7], "tag": self.tag,
                       "worker": worker.number}
            if payload.made_as:
                details["rebased_from"] = payload.made_as[:7]
            ledger.append_event(self.root / ledger.EVENTS_FILE, "experiment_start",
                                "in_progress", details)
        elif kind == "finished":
            try:
                self._finish(payload)
            finally:
                payload.decided.set()

    def _agent_failed_in(self, worker: Worker, failure: AgentFailure) -> None:
        with self.lock:
            self.tickets -= 1
            self.session.agent_failures_in_row += 1
            n = self.session.agent_failures_in_row
        self._record_agent_failure(failure, n, {"worker": worker.number},
                                   f".autoresearch/agent-w{worker.number}/")

    def _finish(self, candidate: Candidate) -> None:
        decided = self._decide(candidate)
        if decided is None:  # the worker moves it onto the current best and measures again
            return
        commit, decision, extra = decided
        measurement = candidate.measurement
        faults.point("before_log")  # a keep has moved the branch already
        with self.lock:
            self.session.agent_failures_in_row = 0
            self.session.cost_usd += candidate.proposal.cost_usd or 0.0
            record = log_experiment(self.config, self.root, self.history, tag=self.tag,
                                    commit=commit, description=candidate.description,
                                    measurement=measurement, decision=decision, extra=extra)
            if decision.status == "keep":
                self.best_sha = commit
            self.tickets -= 1
            self.in_flight.pop(candidate.worker.number, None)
            self._report(record)
        self._publish_log(commit)
        value = measurement.value if measurement else None
        if self.agent.name in IN_PROCESS_AGENTS:
            with AGENT_LOCK:
                self.agent.observe(candidate.proposal, value, decision.status)
        else:
            self.agent.observe(candidate.proposal, value, decision.status)

    # -- the decision ----------------------------------------------------------
    def _decide(self, candidate: Candidate) -> tuple[str | None, Decision, dict] | None:
        """(commit, decision, extra details), or None: "move it onto the current best"."""
        extra = {**_agent_details(candidate.proposal), "worker": candidate.worker.number,
                 "base": candidate.base[:7]}
        if candidate.made_as:
            extra["rebased_from"] = candidate.made_as[:7]
        if candidate.sha is None:
            return None, Decision("crash", candidate.violation or "rejected"), extra
        if candidate.conflict:
            return candidate.sha, Decision("discard", CONFLICT), extra
        best, _ = self.history.best()
        if candidate.base == self.best_sha:
            _, decision = candidate.worker.engine.evaluate(candidate.sha, best, self.best_sha)
            if decision.status == "keep":
                self.repo.reset_hard(candidate.sha)  # a fast-forward: its parent is the best
            return candidate.sha, decision, extra
        decision = judge(self.config, candidate.measurement, best)
        if decision.status == "keep":
            candidate.rebase = True
            return None
        if decision.status == "discard" and self._beat_its_base(candidate):
            decision = Decision("discard", OLDER_BEST)
        return candidate.sha, decision, extra

    def _beat_its_base(self, candidate: Candidate) -> bool:
        for record in reversed(self.history.records):
            d = record["details"]
            if d.get("status") == "keep" and (d.get("full_commit") or d.get("commit")) \
                    == candidate.base:
                at_base = decide.Best(value=d["value"], samples=tuple(d.get("samples") or ()),
                                      code_lines=d.get("lines"),
                                      noise_floor=self.history.noise_floor)
                return judge(self.config, candidate.measurement, at_base).status == "keep"
        return False

    def _publish_log(self, commit: str | None) -> None:
        """run.log in the project: a copy of the last decided run's log."""
        log = self.engine.sample_dir(commit, 1) / "run.log" if commit else None
        if log is not None and log.is_file():
            shutil.copyfile(log, self.root / "run.log")
