"""What the loop remembers of a tag: a bounded window of recent experiments plus running
aggregates, so memory and the prompt's cost stay flat in a loop that never stops.

Kept: the last ``WINDOW`` experiments, the last ``KEEPS`` keeps, the best and the baseline,
counts by status, the calibrated noise floor, crashes in a row and experiments since the
last keep. Built by streaming the ledger once at start, then fed each experiment as it is
logged. Reading never writes anything.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from autoresearch import decide
from autoresearch.experiment import Experiment

WINDOW = 80  # recent experiments kept in full (the prompt lists at most 75 of them)
KEEPS = 50  # recent keeps kept in full (the prompt's "earlier keeps")


@dataclass
class History:
    tag: str
    recent: deque[Experiment] = field(default_factory=lambda: deque(maxlen=WINDOW))
    keeps: deque[Experiment] = field(default_factory=lambda: deque(maxlen=KEEPS))
    counts: Counter = field(default_factory=Counter)
    best_experiment: Experiment | None = None
    baseline: Experiment | None = None
    noise_floor: float | None = None
    holdout_floor: float | None = None  # the holdout's calibrated noise floor
    pooled: decide.Best | None = None  # the best re-measured: its samples pooled (remeasure)
    crashes_in_row: int = 0
    since_keep: int = 0
    last_number: int = 0

    @classmethod
    def of(cls, tag: str, records: Iterable[dict]) -> "History":
        """The history of ``tag`` from a log's records (streamed; only the aggregates stay)."""
        history = cls(tag)
        for record in records:
            details = record["details"]
            if details.get("tag") != tag:
                continue
            action = record.get("action")
            if action == "experiment_done":
                history.add(Experiment.from_record(record))
            elif action == "calibration":
                if details.get("noise_floor") is not None:
                    history.noise_floor = details["noise_floor"]
                if details.get("holdout_noise_floor") is not None:
                    history.holdout_floor = details["holdout_noise_floor"]
            elif action == "remeasure" and details.get("commit") == history.best_commit:
                history.pool(details)
            elif action == "revert":
                history.revert_to(details.get("to"))
        return history

    def add(self, experiment: Experiment) -> None:
        """Take in one logged experiment."""
        self.recent.append(experiment)
        self.counts[experiment.status] += 1
        self.last_number = max(self.last_number, experiment.number)
        if experiment.kept:
            self.keeps.append(experiment)
            self.best_experiment = experiment
            self.baseline = self.baseline or experiment
            self.pooled = None
            self.since_keep = 0
        else:
            self.since_keep += 1
        self.crashes_in_row = self.crashes_in_row + 1 if experiment.crashed else 0

    # -- what the loop asks ------------------------------------------------------------------
    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def next_number(self) -> int:
        return self.last_number + 1

    @property
    def best_commit(self) -> str | None:
        return self.best_experiment.commit if self.best_experiment else None

    def best(self) -> decide.Best | None:
        """The best as ``decide`` compares against it (pooled when it was re-measured)."""
        if self.pooled is not None:
            return self.pooled
        e = self.best_experiment
        if e is None or e.value is None:
            return None
        return decide.Best(value=e.value, samples=e.samples, code_lines=e.code_lines,
                           noise_floor=self.noise_floor)

    @property
    def best_value(self) -> float | None:
        if self.pooled is not None:
            return self.pooled.value
        return self.best_experiment.value if self.best_experiment else None

    def pool(self, details: dict) -> None:
        """Take in a ``remeasure`` record: the best's value and spread from all its samples."""
        best = self.best()
        if best is not None and details.get("samples"):
            self.pooled = replace(best, value=details["value"],
                                  samples=tuple(details["pooled_samples"]),
                                  noise_floor=details.get("noise_floor"))

    def revert_to(self, commit: str | None) -> None:
        """Take in a ``revert``: the best is the kept experiment of ``commit`` again."""
        for kept in reversed(self.keeps):
            if kept.commit == commit:
                self.best_experiment = kept
                self.pooled = None
                return

    @property
    def baseline_value(self) -> float | None:
        return self.baseline.value if self.baseline else None

    def last_crash(self) -> Experiment | None:
        """The most recent crash among the recent experiments, if any."""
        for experiment in reversed(self.recent):
            if experiment.crashed:
                return experiment
        return None
