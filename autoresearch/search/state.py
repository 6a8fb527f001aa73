"""What the search remembers over one loop, held by the coordinator (still no I/O here).

The coordinator reads the code (git) and hands the texts over; this class decides:

- before each ask (``next_ask``): stop on a plateau, or pivot (the prompt's pivot section,
  and the near-miss a branch starts from), who proposes under ``agent: X+tune``, and the
  section after that worker's last duplicate;
- after each proposal (``duplicate``): whether the candidate repeats one measured before
  or one another worker is measuring now;
- after each experiment (``logged``): the novelty index, the past experiments, the plateau
  count, the near-miss pool.

A resumed loop rebuilds the index and the plateau count from the ledger's records
(``replay``): each experiment record carries its ``fingerprint`` and ``change`` (key).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from autoresearch.search import hybrid, sections
from autoresearch.search.directions import directions
from autoresearch.search.nearmiss import BRANCH, NearMiss, NearMissPool, PivotPlan
from autoresearch.search.novelty import Duplicate, NoveltyIndex, Past, most_similar
from autoresearch.search.normalise import change_key
from autoresearch.search.plateau import PIVOT, STOP, Plateau

PAST_KEPT = 200  # past experiments kept for similarity and directions (bounded memory)


@dataclass(frozen=True)
class Ask:
    """How the next candidate is asked for."""

    stop: bool = False  # a plateau of stop_after_plateau experiments: end the loop
    sections: tuple[str, ...] = ()  # added to the prompt (pivot, duplicate)
    plan: PivotPlan | None = None  # a pivot's near-miss plan
    proposer: str = hybrid.MODEL  # hybrid.MODEL or hybrid.TUNE

    @property
    def start(self) -> str | None:
        """The near-miss commit a branch starts from (None: the best)."""
        return self.plan.misses[0].commit if self.plan and self.plan.kind == BRANCH else None


@dataclass
class SearchState:
    plateau: Plateau
    pool: NearMissPool
    with_tuner: bool = False  # agent X+tune
    tune_share: float = hybrid.TUNE_SHARE
    seed: int = 0
    lower_is_better: bool = True
    index: NoveltyIndex = field(default_factory=NoveltyIndex)
    past: deque = field(default_factory=lambda: deque(maxlen=PAST_KEPT))
    without_keep: int = 0  # experiments since the last keep (duplicates do not count)
    pivoted_at: int | None = None  # without_keep when the last pivot was asked (once each)
    turn: int = 0  # the hybrid's turn counter
    model_repeated: bool = False  # the model's last ask gave a duplicate or no change
    repeated: dict[int, str] = field(default_factory=dict)  # worker -> duplicate section
    asked_by: dict[int, str] = field(default_factory=dict)  # worker -> who proposes now
    in_flight: dict[int, tuple[str, str | None]] = field(default_factory=dict)

    # -- a resumed loop ------------------------------------------------------------------------
    def replaying(self, tag: str, records: Iterable[dict]) -> Iterator[dict]:
        """Pass the ledger's records on (to the history), rebuilding from ``tag``'s
        experiments on the way: one read of the ledger serves both."""
        for record in records:
            details = record.get("details") or {}
            status = details.get("status")
            if record.get("action") == "experiment_done" and status is not None \
                    and details.get("tag") == tag:
                self.without_keep = 0 if status == "keep" else self.without_keep + 1
                if details.get("fingerprint"):
                    self.index.remember(int(details.get("number") or 0),
                                        details["fingerprint"], details.get("change"))
            yield record

    # -- before an ask -------------------------------------------------------------------------
    def next_ask(self, worker: int, *, can_tune: bool) -> Ask:
        step = self.plateau.next_step(self.without_keep)
        if step == STOP:
            return Ask(stop=True)
        parts, plan = [], None
        pivot = step == PIVOT and self.pivoted_at != self.without_keep
        if pivot:
            self.pivoted_at = self.without_keep
            plan = self.pool.plan(self.plateau.pivot_number(self.without_keep))
            tried = list(self.past)[-self.without_keep:] if self.without_keep else []
            parts.append(sections.pivot(directions(tried, self.lower_is_better), plan,
                                        self.without_keep))
        if worker in self.repeated:
            parts.append(self.repeated.pop(worker))
        who = hybrid.MODEL
        if self.with_tuner:
            who, self.turn = hybrid.next_proposer(
                self.turn, self.tune_share, self.seed, can_tune=can_tune, pivot=pivot,
                model_repeated=self.model_repeated)
            self.model_repeated = False
        self.asked_by[worker] = who
        return Ask(sections=tuple(parts), plan=plan, proposer=who)

    def no_change(self, worker: int) -> None:
        """The worker's agent changed nothing: under the hybrid, the tuner answers next."""
        if self.asked_by.get(worker) == hybrid.MODEL:
            self.model_repeated = True

    # -- after a proposal ----------------------------------------------------------------------
    def duplicate(self, worker: int, fingerprint: str, change: tuple[str, ...],
                  description: str) -> Duplicate | None:
        """Why the candidate need not run (and the section of the ask after it), or None:
        then it is in flight until ``logged`` (or ``dropped``)."""
        repeat = self.index.duplicate(fingerprint, change)
        if repeat is None:
            key = change_key(change)
            for other, (code, other_change) in self.in_flight.items():
                if other != worker and (code == fingerprint or other_change == key):
                    repeat = Duplicate(None, f"the same change as worker {other}'s, being "
                                             "measured now")
                    break
        if repeat is None:
            self.in_flight[worker] = (fingerprint, change_key(change))
            return None
        similar = most_similar(description, change, list(self.past))
        self.repeated[worker] = sections.duplicate(repeat, similar)
        self.no_change(worker)
        return repeat

    def dropped(self, worker: int) -> None:
        self.in_flight.pop(worker, None)

    # -- after an experiment -------------------------------------------------------------------
    def logged(self, worker: int, number: int, status: str, description: str,
               fingerprint: str | None, change: tuple[str, ...], delta: float | None) -> None:
        self.in_flight.pop(worker, None)
        self.without_keep = 0 if status == "keep" else self.without_keep + 1
        if fingerprint is not None:
            self.index.add(number, fingerprint, change)
        self.past.append(Past(number, status, description, change, delta))

    def offer_near_miss(self, miss: NearMiss, best_value: float, within: float) -> bool:
        return self.pool.offer(miss, best_value, within)

    def kept(self, best_value: float, within: float) -> None:
        self.pool.after_keep(best_value, within)
