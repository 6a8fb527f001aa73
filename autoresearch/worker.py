"""The worker's half of the one cycle: propose (sealed agent), commit, measure.

A worker owns a worktree (``Workspace``) and makes candidates one at a time. For each it asks
the coordinator for a ticket (the best to start from and the prompt), has the agent edit a
copy of that best (project_copy, sandbox, agent_home; only the targets cross back:
cross_back), commits the target's new bytes onto the best with git
plumbing (no hooks, no index, nothing else can slip in), notes the candidate as pending, and
then does what the coordinator asks until it says done: measure it on the current best
(moving it there first when the best changed meanwhile), and nothing else. The coordinator
judges and logs. The serial loop is one worker calling the coordinator directly; ``--jobs N``
is N workers in threads calling it through a mailbox.
"""

from __future__ import annotations

import difflib
import queue
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from autoresearch import (agent_home, compare, cross_back, devices, faults, project_copy,
                          sandbox)
from autoresearch.agents.base import AgentFailure, AgentRequest
from autoresearch.experiment import AgentUsage, Measurement
from autoresearch.output import safe
from autoresearch.state import read_json, write_json
from autoresearch.workspace import Workspace


@dataclass(frozen=True)
class Ticket:
    """What a worker starts a candidate from."""

    best: str  # full sha the candidate is committed onto
    prompt: str
    committed: tuple["Committed", ...]  # the targets as the agent's copy has them
    listing: dict  # project_copy.committed(): every file the agent's copy holds
    agent: Any = None  # who proposes (None: the loop's agent; the tuner under X+tune)
    proposer: str = "model"  # search.hybrid.MODEL or TUNE
    start: str | None = None  # the tree the agent's copy is made from, when not the best
    combines: tuple[int, ...] = ()  # the near-misses a combine prompt shows


class Coordinator(Protocol):
    """What a worker asks of the coordinator (directly, or through the parallel mailbox)."""

    def ticket(self, worker: int) -> Ticket | None: ...

    def agent_failed(self, worker: int, failure: AgentFailure) -> float: ...

    def consider(self, worker: int, candidate: "Candidate") -> "Measure | Done": ...

    def started(self, worker: int, candidate: "Candidate") -> None: ...

POLL_S = 0.1
NO_CHANGE = "the agent made no change to"


@dataclass(frozen=True)
class Committed:
    """A target file as the best commit has it."""

    path: str  # project-relative
    mode: str  # 100644 or 100755
    content: bytes


def shortstat(old: bytes, new: bytes) -> str:
    """"+A -R lines" between two versions of a file (for a description the agent did not give)."""
    diff = list(difflib.unified_diff(old.decode("utf-8", "replace").splitlines(),
                                     new.decode("utf-8", "replace").splitlines(), lineterm="", n=0))
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    return f"+{added} -{removed} lines"


class WorkerStopped(BaseException):
    """Raised in a worker thread when the loop stops its workers."""


@dataclass
class Candidate:
    """One change on its way to a decision."""

    description: str
    base: str  # the best it was made on (or moved onto before measuring): full sha
    commit: str | None = None  # None: rejected before it was committed
    rejection: str | None = None
    agent: AgentUsage | None = None
    raw: Any = None  # the agent's own Proposal, handed back to it with the outcome
    made_as: str | None = None  # the commit it was first made as, when moved onto a newer best
    ignored: tuple[str, ...] = ()
    measurement: Measurement | None = None
    conflict: bool = False  # it could not be moved onto the current best
    worker: int = 1
    paired: tuple | None = None  # compare: paired: (the best's samples, taken in turns)
    proposer: str = "model"  # search.hybrid.MODEL or TUNE
    branched_from: str | None = None  # the near-miss whose tree the agent started from
    combines: tuple[int, ...] = ()
    fingerprint: str | None = None  # set by the coordinator's novelty check
    change: tuple[str, ...] = ()
    screened: dict | None = None  # the screen_command run's sample
    best_screened: dict | None = None  # the best's, when it had none yet
    screen_passed: bool = False
    announced: str | None = None  # the commit whose experiment_start is logged

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "base": self.base, "commit": self.commit,
                "made_as": self.made_as, "worker": self.worker,
                "agent": None if self.agent is None else vars(self.agent)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Candidate":
        agent = AgentUsage(**data["agent"]) if data.get("agent") else None
        return cls(description=data["description"], base=data["base"], commit=data["commit"],
                   made_as=data.get("made_as"), worker=data.get("worker", 1), agent=agent)


@dataclass(frozen=True)
class Measure:
    """The coordinator's request: measure the candidate on ``best`` (moving it there first);
    with ``screen``, only its screen_command run (and the best's too, with ``screen_best``)."""

    best: str
    screen: bool = False
    screen_best: bool = False


class Done:
    """The coordinator's answer: the candidate is logged."""


DONE = Done()


@dataclass
class Worker:
    number: int
    context: Any  # coordinator.Context: config, layout, repo, engine, agent, ...
    workspace: Workspace
    device: str | None = None
    slots: "queue.Queue | None" = None  # experiment slots (parallel); None: always free
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def parallel(self) -> bool:
        return self.slots is not None

    # -- the cycle, written once ----------------------------------------------------------------
    def cycle(self, coordinator: "Coordinator") -> bool:
        """Make one candidate and see it through; False when there is nothing more to do."""
        ticket = coordinator.ticket(self.number)
        if ticket is None:
            return False
        try:
            candidate = self.propose(ticket)
        except AgentFailure as failure:
            pause = coordinator.agent_failed(self.number, failure)
            self._sleep(pause)
            return True
        self.see_through(candidate, coordinator)
        return True

    def see_through(self, candidate: Candidate, coordinator: "Coordinator") -> None:
        """Do what the coordinator asks with ``candidate`` until it is logged."""
        step = coordinator.consider(self.number, candidate)
        while not isinstance(step, Done):
            candidate = self.measure(candidate, step, coordinator)
            step = coordinator.consider(self.number, candidate)

    # -- propose --------------------------------------------------------------------------------
    def propose(self, ticket: "Ticket") -> Candidate:
        """The agent edits a sealed copy of the best; only the targets' bytes come back."""
        c = self.context
        agent = ticket.agent or c.agent
        scratch = c.layout.agent_dir / "copies" / f"w{self.number}"
        project_copy.remove_copy(scratch)  # a killed call's leftovers
        copy = project_copy.make_copy(c.repo, ticket.start or ticket.best,
                                      c.layout.project_path, scratch / "project",
                                      listing=ticket.listing, with_git=agent.name == "aider")
        home = agent_home.prepare(agent.name, scratch / "home")
        io = scratch / "io"
        io.mkdir()
        try:
            request = AgentRequest(
                prompt=ticket.prompt, project_dir=copy, target_files=c.config.targets,
                work_dir=c.layout.agent_dir / f"w{self.number}", settings=c.agent_settings,
                metric_name=c.config.metric_name, direction=c.config.metric_direction,
                on_tick=lambda elapsed: self._tick("agent", elapsed, c.config.agent_timeout),
                children=c.engine.children, prompt_dir=io,
                wrap=lambda argv: sandbox.wrap(argv, level=c.sandbox, copy=copy,
                                               writable=[home.path, io],
                                               hidden=c.hidden_from_agent),
                env={**home.env, **sandbox.copy_environment(copy)})
            try:
                raw = agent.propose(request)
            finally:
                agent_home.write_back(home)
            faults.point("after_agent")
            back = cross_back.read_back(copy, c.config.targets, ticket.listing,
                                        with_git=agent.name == "aider")
        finally:
            project_copy.remove_copy(scratch)
        usage = AgentUsage(raw.cost_usd, raw.duration_s, raw.input_tokens, raw.output_tokens)
        described = (raw.description or "").strip()
        ignored = back.ignored + ((f"(+{back.ignored_total - len(back.ignored)} more)",)
                                  if back.ignored_total > len(back.ignored) else ())
        made = {"agent": usage, "raw": raw, "ignored": ignored, "worker": self.number,
                "proposer": ticket.proposer, "combines": ticket.combines,
                "branched_from": ticket.start}
        if "\0" in described:
            return Candidate(described.replace("\0", "?"), ticket.best,
                             rejection="rejected: the agent's description holds a NUL byte",
                             **made)
        if back.rejections:
            return Candidate(described or "edit", ticket.best,
                             rejection="rejected: " + "; ".join(back.rejections), **made)
        if not back.changed:
            raise AgentFailure(f"{NO_CHANGE} {', '.join(c.config.targets)}", raw.output_tail)
        description = described or self._summary(ticket, back.contents)
        faults.point("before_commit")
        files = {c.layout.in_repo(t.path): (t.mode, back.contents[t.path])
                 for t in ticket.committed}
        message = f"experiment: {safe(description)}"  # git log shows it raw on a terminal
        if self.parallel:  # two workers' identical changes stay distinct commits
            message += f"\n\nAutoresearch-Worker: {self.number}"
        sha = c.repo.commit_with(ticket.best, files, message)
        candidate = Candidate(description, ticket.best, sha, **made)
        write_json(c.layout.pending / f"{sha}.json", candidate.to_json())
        return candidate

    def _summary(self, ticket: "Ticket", contents: dict[str, bytes]) -> str:
        stats = [shortstat(t.content, contents[t.path]) for t in ticket.committed]
        return f"edit {', '.join(self.context.config.targets)} ({'; '.join(stats)})"

    # -- measure ----------------------------------------------------------------------------
    def measure(self, candidate: Candidate, step: Measure, coordinator: "Coordinator"
                ) -> Candidate:
        """Measure ``candidate`` on ``step.best``: moved there first when it was made on
        another; with ``step.screen`` only its screen run (and the best's)."""
        best = step.best
        device = self._take_slot()
        try:
            if candidate.base != best:
                moved = self._move(candidate, best)
                if moved is None:
                    return replace(candidate, conflict=True, measurement=None)
                candidate = moved
            if candidate.announced != candidate.commit:
                coordinator.started(self.number, candidate)
                candidate = replace(candidate, announced=candidate.commit)
            env = devices.environment(device)
            engine = self.context.engine
            if step.screen:
                theirs = engine.screen(best, self.workspace, env=env, on_tick=self._tick) \
                    if step.screen_best else None
                ours = engine.screen(candidate.commit, self.workspace, env=env,
                                     on_tick=self._tick)
                return replace(candidate, screened=ours, best_screened=theirs)
            if self.context.config.compare == "paired":
                return self._measure_paired(candidate, best, env)
            measurement = self.context.engine.measure(candidate.commit, self.workspace,
                                                      env=env, on_tick=self._tick)
            return replace(candidate, measurement=measurement)
        finally:
            self._release_slot(device)

    def _measure_paired(self, candidate: Candidate, best: str, env) -> Candidate:
        """Candidate and best in turns (c, b, c, b ...), each pair in the same conditions,
        until the paired rule is decisive or ``repeats`` pairs ran; a crash ends it."""
        c = self.context
        ours: list[dict] = []
        theirs: list[float] = []
        for index in range(1, c.config.repeats + 1):
            sample = c.engine.sample(candidate.commit, self.workspace, index, env=env,
                                     on_tick=self._tick)
            ours.append(sample)
            if sample["value"] is None:
                break
            other = c.engine.sample(best, self.workspace, index, env=env, on_tick=self._tick)
            if other["value"] is None:
                ours[-1] = {**sample, "value": None,
                            "error": f"the best crashed when paired ({other['error']})"}
                break
            theirs.append(other["value"])
            step = compare.paired_step([s["value"] for s in ours], theirs,
                                       direction=c.config.metric_direction,
                                       repeats=c.config.repeats)
            if step.decision != "continue":
                break
        measurement = c.engine.measurement_of(candidate.commit, ours)
        return replace(candidate, measurement=measurement, paired=(tuple(theirs), None))

    def _move(self, candidate: Candidate, best: str) -> Candidate | None:
        """The candidate's change applied to ``best`` (its hunks win a conflict)."""
        c = self.context
        files = {}
        for target in c.config.targets:
            path = c.layout.in_repo(target)
            base = c.repo.file_at(candidate.base, path) or b""
            ours = c.repo.file_at(best, path) or b""
            theirs = c.repo.file_at(candidate.commit, path) or b""
            entry = c.repo.entry(best, path)
            if entry is None or not entry.regular_file:
                return None
            files[path] = (entry.git_mode, c.repo.merge_text(ours, base, theirs))
        if all(content == (c.repo.file_at(best, p) or b"") for p, (_, content) in files.items()):
            return None  # nothing of it is left on the new best
        message = c.repo.commit_message(candidate.commit)
        sha = c.repo.commit_with(best, files, message)
        moved = replace(candidate, commit=sha, base=best,
                        made_as=candidate.made_as or candidate.commit)
        write_json(c.layout.pending / f"{sha}.json", moved.to_json())
        (c.layout.pending / f"{candidate.commit}.json").unlink(missing_ok=True)
        return moved

    # -- slots, ticks, stopping -------------------------------------------------------------
    def _take_slot(self) -> str | None:
        if self.slots is None:
            return self.device
        while True:
            try:
                return self.slots.get(timeout=POLL_S)
            except queue.Empty:
                self._check_stop()

    def _release_slot(self, device: str | None) -> None:
        if self.slots is not None:
            self.slots.put(device)

    def _tick(self, phase: str, elapsed: float, limit: float) -> None:
        self._check_stop()
        self.context.tick(self.number, phase, elapsed, limit)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise WorkerStopped()

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise WorkerStopped()


def pending(layout) -> list[Candidate]:
    """The candidates a killed loop committed and did not log, oldest first."""
    found = []
    for path in sorted(layout.pending.glob("*.json"), key=lambda p: p.stat().st_mtime) \
            if layout.pending.is_dir() else []:
        data = read_json(path)
        if isinstance(data, dict) and data.get("commit"):
            found.append(Candidate.from_json(data))
        else:
            path.unlink(missing_ok=True)
    return found
