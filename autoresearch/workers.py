"""One parallel worker: a thread with its own work tree, its own agent call and experiment.

For each candidate the worker takes a ticket from the coordinator (the current best and a
prompt that names what the other workers are trying), resets its work tree to that best,
asks the agent, checks the change with git (guard), commits it on its detached HEAD,
waits for an experiment slot (a GPU, or a share of the cores), brings the candidate onto
the best of that moment if the best moved meanwhile (a cherry-pick; a conflict leaves it
where it was made), measures it with its own engine (cwd: its work tree; cache: the
project's), and hands it over. The coordinator decides and logs; the worker waits for
that, then starts again. When the answer is "rebase" (the candidate beat the current
best but was made on an older one) the worker cherry-picks it onto the current best,
measures it again and hands it over again. A worker never logs and never touches the
main work tree.

Stopping: the coordinator sets ``stop``. A running agent or experiment notices at its
next tick (about once a second) and raises :class:`WorkerStopped`; runner.run kills the
process tree while it unwinds, so nothing half-measured is ever cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autoresearch import devices, faults, guard
from autoresearch.agents.base import AgentFailure, AgentRequest, Proposal
from autoresearch.engine import Engine, Measurement
from autoresearch.git import GitCommandError, Repo, open_repo

if TYPE_CHECKING:
    from autoresearch.parallel import ParallelLoop

POLL_S = 0.1
IN_PROCESS_AGENTS = ("tune",)  # run inside this process: called one at a time
AGENT_LOCK = threading.Lock()


class WorkerStopped(BaseException):
    """Raised in a worker thread when the coordinator stops the workers."""


@dataclass(eq=False)
class Candidate:
    """One worker's change, on its way to the coordinator's decision."""

    worker: Worker
    base: str  # the best commit it was made on (or brought onto before measuring)
    description: str
    proposal: Proposal
    sha: str | None = None  # None: rejected before it was committed
    violation: str | None = None  # why it was rejected
    measurement: Measurement | None = None
    made_as: str | None = None  # the first commit, once it was moved onto a newer best
    conflict: bool = False  # it had to move onto the current best, and could not
    rebase: bool = False  # the coordinator's answer: move onto the current best, measure again
    decided: threading.Event = field(default_factory=threading.Event)


def commit_message(description: str, worker: int) -> str:
    """The candidate's commit message; the trailer keeps two workers' commits distinct."""
    return f"experiment: {description}\n\nAutoresearch-Worker: {worker}"


class Worker(threading.Thread):
    def __init__(self, number: int, path: Path, workdir: Path, coordinator: ParallelLoop):
        super().__init__(name=f"autoresearch-worker-{number}", daemon=True)
        self.number = number
        self.path = path  # the work tree's root
        self.workdir = workdir  # the project inside it
        self.coord = coordinator
        self.config = coordinator.config
        self.engine: Engine | None = None
        self.failures = 0

    def run(self) -> None:
        try:
            with open_repo(self.path) as repo:
                self.engine = Engine(self.config, repo, on_tick=self._engine_tick,
                                     workdir=self.workdir)
                while True:
                    self._candidate(repo)
        except WorkerStopped:
            pass
        except BaseException as exc:  # noqa: BLE001  raised again by the coordinator
            self.coord.inbox.put(("error", self, exc))

    # -- one candidate ---------------------------------------------------------
    def _candidate(self, repo: Repo) -> None:
        base, prompt = self.coord.ticket(self)
        repo.restore(base, repo.untracked())  # every untracked file here is a leftover
        before = guard.snapshot(repo, self.config.protected_files)
        try:
            proposal = self._propose(prompt)
        except AgentFailure as failure:
            self.failures += 1
            self.coord.inbox.put(("agent_failed", self, failure))
            self._sleep(min(self.coord.backoff_s * 2 ** (self.failures - 1), 60.0))
            return
        self.failures = 0
        faults.point("after_agent")
        verdict = guard.check(repo, before, self.config.targets)
        candidate = Candidate(self, base, proposal.description or _diff_summary(
            repo, self.config.targets), proposal)
        if verdict.violation:
            candidate.violation = verdict.violation
            return self._hand_over(candidate)
        faults.point("before_commit")
        try:
            candidate.sha = repo.commit_paths(list(self.config.targets),
                                              commit_message(candidate.description, self.number),
                                              verify=not self.coord.hook_only_ours)
        except GitCommandError as exc:
            candidate.violation = f"commit refused: {exc}"
            return self._hand_over(candidate)
        self.coord.flying(self, candidate.description)
        self._measure(repo, candidate, must_move=False)
        self._hand_over(candidate)
        while candidate.rebase:  # it beat the current best but was made on an older one
            candidate.rebase = False
            candidate.decided.clear()
            self._measure(repo, candidate, must_move=True)
            self._hand_over(candidate)

    def _propose(self, prompt: str) -> Proposal:
        c = self.config
        request = AgentRequest(
            prompt=prompt, project_dir=self.workdir, target_files=c.targets,
            work_dir=self.coord.state / f"agent-w{self.number}",
            settings=self.coord._agent_settings(), metric_name=c.metric_name,
            direction=c.metric_direction, on_tick=lambda elapsed: self._check_stop())
        if self.coord.agent.name in IN_PROCESS_AGENTS:
            with AGENT_LOCK:
                return self.coord.agent.propose(request)
        return self.coord.agent.propose(request)

    def _measure(self, repo: Repo, candidate: Candidate, *, must_move: bool) -> None:
        device = self.coord.take_slot()
        try:
            if not self._catch_up(repo, candidate) and must_move:
                candidate.conflict = True
                return
            self.coord.inbox.put(("started", self, candidate))
            self.engine.env = devices.environment(device)
            candidate.measurement = self.engine.measure(candidate.sha)
        finally:
            self.coord.slots.put(device)

    def _catch_up(self, repo: Repo, candidate: Candidate) -> bool:
        """Move the candidate onto the current best (a cherry-pick) if the best moved since
        it was made; False when it does not apply there (it stays where it was made)."""
        best = self.coord.best_sha
        if best == candidate.base:
            return True
        made = candidate.sha
        repo.reset_hard(best)
        try:
            candidate.sha = repo.cherry_pick(made)
        except GitCommandError:
            repo.reset_hard(made)
            return False
        candidate.base = best
        candidate.made_as = candidate.made_as or made
        return True

    def _hand_over(self, candidate: Candidate) -> None:
        self.coord.inbox.put(("finished", self, candidate))
        while not candidate.decided.wait(POLL_S):
            self._check_stop()

    # -- stopping ----------------------------------------------------------------
    def _check_stop(self) -> None:
        if self.coord.stop.is_set():
            raise WorkerStopped()

    def _engine_tick(self, phase: str, elapsed: float, limit: float) -> None:
        self._check_stop()

    def _sleep(self, seconds: float) -> None:
        if self.coord.stop.wait(seconds):
            raise WorkerStopped()


def _diff_summary(repo: Repo, targets: tuple[str, ...]) -> str:
    try:
        stat = repo.run("diff", "--shortstat", "HEAD", "--", *targets)
    except GitCommandError:
        stat = ""
    return f"edit {', '.join(targets)}" + (f" ({stat.strip()})" if stat else "")
