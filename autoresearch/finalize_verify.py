"""``finalize --verify``: each kept change must still earn its place in the final tree.

Newest first, each kept change is reverted from the final tree as it stands (the best, minus
the changes dropped so far: of two changes that do the same thing, only one is dropped) and
that tree is measured; the verdict is ``verify.verdict`` (contributes, simpler, hurts, within
noise floor). A dropped change leaves the tree without it, whose samples are then those of
the tree as it stands.

Every measurement here is fresh (``Engine.calibrate``: ``repeats`` runs, never the cache and
never another commit's number): a keep that only looked good once must be run again to be
found out. The final tree is measured first. A change that no longer reverts cleanly is kept
("does not revert cleanly"), one whose tree crashes without it is kept ("crashes without
it"), one whose revert changes nothing is dropped ("not in the final tree").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autoresearch import decide, kept_change, verify
from autoresearch.children import ChildRegistry
from autoresearch.config import Config, resolve
from autoresearch.engine import Engine
from autoresearch.errors import CrashingError
from autoresearch.git import Repo
from autoresearch.kept_change import KeptChange
from autoresearch.results import aligned, format_delta, format_value
from autoresearch.signals import Signals
from autoresearch.state import locate_for
from autoresearch.workspace import Workspace

Say = Callable[[str], None]


@dataclass(frozen=True)
class Checked:
    """The verdict on one kept change."""

    change: KeptChange
    kept: bool
    reason: str
    contribution: float | None = None  # positive: the metric is better with the change
    floor: float | None = None  # the noise floor it was judged against


@dataclass(frozen=True)
class Verification:
    checked: tuple[Checked, ...]  # newest first
    tree: str  # a commit whose tree is the final tree: the best without the dropped changes
    value: float  # that tree's measured value (the aggregate of its samples)
    runs: int
    noise_floor: float | None  # the calibrated floor, else None (then each verdict's samples)
    direction: str

    @property
    def kept(self) -> list[KeptChange]:
        """The changes that stay, oldest first."""
        return [c.change for c in reversed(self.checked) if c.kept]

    @property
    def dropped(self) -> list[Checked]:
        return [c for c in reversed(self.checked) if not c.kept]


class Remeasure:
    """Fresh measurements of commits under the project's config, in a worktree of finalize's."""

    def __init__(self, config: Config, engine: Engine, tree: Workspace):
        self.config = config
        self.engine = engine
        self.tree = tree

    @property
    def runs(self) -> int:
        return self.config.repeats

    def samples(self, sha: str) -> tuple[float, ...] | None:
        """``repeats`` values of ``sha``, run now; None when any run crashed."""
        values = self.engine.calibrate(sha, self.tree, self.runs)
        return tuple(values) if len(values) == self.runs else None

    def code_lines(self, sha: str) -> int:
        """Non-blank, non-comment lines of the targets at ``sha`` (the "simpler" measure)."""
        layout, repo = self.engine.layout, self.engine.repo
        text = "".join((repo.file_at(sha, layout.in_repo(t)) or b"").decode("utf-8", "replace")
                       for t in self.config.targets)
        return decide.code_lines(text, self.config.targets[0])

    def verdict(self, with_change: Sequence[float], without_change: Sequence[float],
                noise_floor: float | None, lines_removed: int) -> verify.Verdict:
        return verify.verdict(with_change, without_change,
                              direction=self.config.metric_direction, noise_floor=noise_floor,
                              lines_removed=lines_removed, how=self.config.aggregate)


@contextmanager
def remeasure(project: Path, repo: Repo) -> Iterator[Remeasure]:
    """A :class:`Remeasure` for ``project``; its worktree is removed at the end, also on a
    signal (which ends the command like any other: exit 128 + N)."""
    from autoresearch.loop import preflight_check

    config = resolve(project)
    preflight_check(config)
    layout = locate_for(config)
    engine = Engine(config, layout, repo, children=ChildRegistry(layout.children))
    tree = Workspace(repo, layout, f"finalize-{os.getpid()}", config.run_files)
    with Signals():
        try:
            yield Remeasure(config, engine, tree)
        finally:
            tree.delete()


def _check(repo: Repo, measure: Remeasure, tree: str, samples: Sequence[float],
           change: KeptChange, noise_floor: float | None, say: Say
           ) -> tuple[Checked, str | None, tuple[float, ...] | None]:
    """The verdict on ``change`` in ``tree``, and (when it is dropped) the tree without it
    and that tree's samples."""
    files = kept_change.revert(repo, tree, change)
    if files is None:
        return Checked(change, True, "does not revert cleanly"), None, None
    if not files:
        return Checked(change, False, "not in the final tree"), tree, tuple(samples)
    without = repo.commit_with(tree, files, f"finalize --verify: without {change.label}")
    say(f"measuring the final tree without {change.label} ({_runs(measure.runs)})")
    measured = measure.samples(without)
    if measured is None:
        return Checked(change, True, "crashes without it"), None, None
    lines_removed = measure.code_lines(without) - measure.code_lines(tree)
    verdict = measure.verdict(samples, measured, noise_floor, lines_removed)
    checked = Checked(change, verdict.kept, verdict.reason, verdict.contribution,
                      verdict.floor)
    return checked, (None if verdict.kept else without), measured


def verify_changes(repo: Repo, measure: Remeasure, best: str, changes: Sequence[KeptChange],
                   noise_floor: float | None, say: Say) -> Verification:
    """Verify ``changes`` (oldest first) against the final tree ``best``, newest first."""
    say(f"measuring the final tree {best[:7]} again ({_runs(measure.runs)})")
    samples = measure.samples(best)
    if samples is None:
        raise CrashingError(f"the best commit {best[:7]} crashed when measured again (see "
                            "run.log): finalize --verify needs a final tree that runs")
    tree, checked = best, []
    for change in reversed(changes):
        verdict, without, measured = _check(repo, measure, tree, samples, change,
                                            noise_floor, say)
        checked.append(verdict)
        if without is not None:
            tree, samples = without, measured
    value = decide.aggregate(samples, measure.config.aggregate)
    return Verification(tuple(checked), tree, value, measure.runs, noise_floor,
                        measure.config.metric_direction)


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


TABLE_HEADER = ("#", "commit", "contribution", "noise floor", "verdict", "description")


def _row(checked: Checked) -> tuple[str, ...]:
    change = checked.change
    verdict = f"{'keep' if checked.kept else 'drop'} ({checked.reason})"
    floor = "" if checked.floor is None else f"±{format_value(checked.floor)}"
    contribution = "—" if checked.contribution is None else format_delta(checked.contribution)
    return (str(change.number), change.commit[:7], contribution, floor, verdict,
            kept_change.one_line(change.experiment.description))


def table(verification: Verification, metric: str) -> str:
    """The report: one row per kept change, newest first."""
    words = ("lower is better" if verification.direction == "lower_is_better"
             else "higher is better")
    floor = ("calibrated" if verification.noise_floor is not None
             else "from the samples (2 × MAD of 3 runs or more, else 0)")
    head = (f"finalize --verify ({metric}, {words}): each kept change, newest first, reverted "
            f"from the final tree and measured, {_runs(verification.runs)} each; noise floor "
            f"{floor}.\ncontribution: how much better the metric is with the change than "
            "without it.")
    rows = [_row(checked) for checked in verification.checked]
    return "\n".join([head, ""] + aligned(TABLE_HEADER, rows, {"#", "contribution"}))
