"""Judging a measured candidate against the best: every rule of a keep, in one place.

In order (the first that settles it wins):

1. outputs: a candidate that no longer emits an entry output the best emitted is a crash
   ("output missing: dist/x.min.js"), never a smaller bundle;
2. the verdict (decide.judge on the aggregate, or, with ``compare: paired``, the paired
   sequential rule on the interleaved samples, with its confidence);
3. a keep that only moves a seed needs paired or repeated evidence (3 samples or more);
4. the audit of the kept diff flags what it finds (metric name printed, paths outside,
   timing or seeds, the metric's own files): recorded, and ``check_command`` must pass;
5. ``check_command`` must pass;
6. the sealed holdout must not regress beyond its tolerance (every ``holdout_every`` keeps).

The coordinator calls :meth:`Judge.verdict`; only it judges. What the judge adds to the
record (flags, confidence, holdout) comes back as ``more``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from autoresearch import audit, compare, decide, emitted, holdout, seeds
from autoresearch.decide import Decision
from autoresearch.experiment import Measurement

SEED_EVIDENCE = 3  # samples a seed-only change needs (with compare: single)
SEED_ONLY = "seed-only change: needs paired or repeated evidence"


@dataclass
class Verdict:
    decision: Decision
    measurement: Measurement
    more: dict[str, Any] = field(default_factory=dict)


class Judge:
    def __init__(self, coordinator):
        self.co = coordinator
        self.c = coordinator.c
        self.config = coordinator.c.config
        self.holdouts: dict[str, float | None] = {}  # commit -> its holdout value
        self.keeps_unverified = 0  # keeps since the holdout last ran (holdout_every > 1)

    # -- the pure part ----------------------------------------------------------------------
    def aggregate_verdict(self, measurement: Measurement, best: decide.Best | None) -> Decision:
        """decide.judge on the measurement's aggregate."""
        return decide.judge(decide.Candidate(value=measurement.value,
                                             samples=measurement.samples,
                                             crash_reason=measurement.error,
                                             code_lines=measurement.code_lines),
                            best, self.co.policy)

    def outputs_checked(self, measurement: Measurement, best_sha: str | None) -> Measurement:
        best = self.c.engine.cached(best_sha) if best_sha else None
        if best is None or not best.outputs or not measurement.outputs \
                or measurement.value is None:
            return measurement
        missing = emitted.missing_outputs([o["path"] for o in best.outputs],
                                          [o["path"] for o in measurement.outputs],
                                          self.config.required_outputs)
        error = emitted.missing_error(missing)
        return replace(measurement, value=None, error=error) if error else measurement

    # -- a candidate made on the current best ---------------------------------------------------
    def verdict(self, worker: int, candidate) -> Verdict:
        best_sha = self.co.history.best_commit
        best = self.co.history.best()
        measurement = self.outputs_checked(candidate.measurement, best_sha)
        more: dict[str, Any] = {}
        if candidate.paired is not None and best is not None and measurement.value is not None:
            decision = self._paired(candidate.paired, measurement, more)
        else:
            decision = self.aggregate_verdict(measurement, best)
        if decision.status != "keep" or best is None:
            return Verdict(decision, measurement, more)
        old, new = self._target_texts(best_sha, candidate.commit)
        if self._seed_only(old, new, measurement, candidate.paired is not None):
            more["flags"] = ["seed"]
            return Verdict(Decision("discard", SEED_ONLY), measurement, more)
        flags = list(audit.audit(old, new, self.config.targets[0],
                                 metric_name=self.config.metric_name or "",
                                 metric_files=self._metric_files()))
        if flags:
            more["flags"] = flags
        if self.config.check_command:
            passed, log_tail = self.c.engine.check(candidate.commit, self.c.workspaces[worker])
            if not passed:
                return Verdict(Decision("discard", log_tail.splitlines()[0]), measurement, more)
        if self.config.holdout_command:
            decision = self._holdout(worker, candidate.commit, best_sha, decision, more)
        return Verdict(decision, measurement, more)

    def _paired(self, paired, measurement: Measurement, more: dict) -> Decision:
        best_samples, _ = paired
        step = compare.paired_step(
            measurement.samples, best_samples, direction=self.config.metric_direction,
            repeats=self.config.repeats,
            min_delta=self.config.min_delta.margin(self.co.history.best_value or 0.0))
        more["pairs"] = step.pairs
        if step.confidence is not None:
            more["confidence"] = round(step.confidence, 4)
        status = "keep" if step.decision == "keep" else "discard"
        return Decision(status, step.reason if step.decision != "continue" else "not improved")

    def _seed_only(self, old: str, new: str, measurement: Measurement, paired: bool) -> bool:
        if paired or len(measurement.samples) >= SEED_EVIDENCE:
            return False
        return seeds.seed_only(old, new, self.config.targets[0])

    def _target_texts(self, best_sha: str, commit: str) -> tuple[str, str]:
        path = self.c.layout.in_repo(self.config.targets[0])
        read = self.c.repo.file_at
        return ((read(best_sha, path) or b"").decode("utf-8", "replace"),
                (read(commit, path) or b"").decode("utf-8", "replace"))

    def _metric_files(self) -> tuple[str, ...]:
        files = [part.strip() for part in (self.config.metric_file or "").split(",")
                 if part.strip()]
        return tuple(files)

    # -- the sealed holdout ---------------------------------------------------------------------
    def _holdout(self, worker: int, commit: str, best_sha: str, decision: Decision,
                 more: dict) -> Decision:
        self.keeps_unverified += 1
        if self.keeps_unverified < self.config.holdout_every:
            more["holdout_due_in"] = self.config.holdout_every - self.keeps_unverified
            return decision
        tree = self.c.workspaces[worker]
        best_value = self.holdout_of(self.co.holdout_base(), tree)
        value = self.c.engine.holdout(commit, tree)
        more["holdout"] = value
        passed, reason = holdout.holdout_ok(value, best_value,
                                            direction=self.config.holdout_direction,
                                            tolerance=self._tolerance())
        self.holdouts[commit] = value
        if passed:
            self.keeps_unverified = 0
            return decision
        return Decision("discard", reason)

    def holdout_of(self, sha: str, tree) -> float | None:
        """The holdout value of ``sha``: logged, remembered, or measured now."""
        if sha not in self.holdouts:
            self.holdouts[sha] = self.c.engine.holdout(sha, tree)
        return self.holdouts[sha]

    def _tolerance(self) -> float:
        if self.config.holdout_tolerance is not None:
            return self.config.holdout_tolerance
        return self.co.history.holdout_floor or 0.0


def remembered_holdouts(history) -> dict[str, float | None]:
    """The holdout values the log already holds, by commit."""
    return {e.commit: e.more["holdout"] for e in (*history.keeps, *history.recent)
            if e.commit and "holdout" in e.more}
