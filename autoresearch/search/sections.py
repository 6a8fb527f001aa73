"""The prompt sections the search adds: a pivot, the ask after a duplicate, the tuner's notes.

Each is plain text for the prompt builder to place among its parts; each is bounded (the
lists by their modules' limits, a change by ``CHANGE_LINES`` lines of ``LINE_CHARS``), and
agent-written text (descriptions, changed lines) is quoted on one line each.
"""

from __future__ import annotations

from collections.abc import Sequence

from autoresearch.search.directions import Direction
from autoresearch.search.nearmiss import BRANCH, NearMiss, PivotPlan
from autoresearch.search.novelty import Duplicate, Similar
from autoresearch.search.tuning import TunerNotes

CHANGE_LINES = 20  # of each near-miss diff: two fit in about 5 KB
LINE_CHARS = 120
DESCRIPTION_CHARS = 100


def pivot(tried: Sequence[Direction], plan: PivotPlan | None, without_keep: int) -> str:
    """The section of a pivot prompt: what was tried, and what to do instead."""
    lines = [f"## Plateau: {without_keep} experiments in a row without a keep",
             "Try a different direction from those below."]
    if tried:
        lines.append("Directions already tried since the last keep (most tried first):")
        lines += [f"- {d.label}: {len(d.numbers)} tried ({_numbers(d.numbers)}), "
                  f"{d.kept} kept{_delta(d.best_delta)}" for d in tried]
    if plan and plan.kind == BRANCH:
        miss = plan.misses[0]
        lines += ["", f"This time you start from a near-miss instead of the best: #{miss.number} "
                  f"({_one_line(miss.description)}), {miss.value:.6g}. Its change:",
                  *_change(miss)]
    elif plan:
        first, second = plan.misses
        lines += ["", "Combine these two near-misses (each almost as good as the best) into "
                  "one change to the best:",
                  f"#{first.number} ({_one_line(first.description)}), {first.value:.6g}:",
                  *_change(first),
                  f"#{second.number} ({_one_line(second.description)}), {second.value:.6g}:",
                  *_change(second)]
    return "\n".join(lines)


def duplicate(repeat: Duplicate, similar: Sequence[Similar]) -> str:
    """The section of the ask after a duplicate or no-change proposal."""
    lines = [f"## Your last proposal was not run: {repeat.reason}",
             "Make a change that was not tried before."]
    if similar:
        lines.append("The past experiments most like it, and how they did:")
        lines += [f"- #{s.past.number} {s.past.status}{_delta(s.past.delta, 'delta')}: "
                  f"{_one_line(s.past.description) or '(no description)'}" for s in similar]
    return "\n".join(lines)


def tuner(notes: TunerNotes, owned: Sequence[str]) -> str:
    """The section for the model of ``agent: X+tune``."""
    settings = ", ".join(f"{k} = {v:.4g}" for k, v in notes.best.items())
    lines = [
        "## Constants the tuner owns",
        f"A tuner searches {', '.join(owned)}: leave them as they are and change the "
        "structure of the code instead.",
        f"Best-known settings ({notes.best_value:.6g}): {settings}.",
    ]
    if notes.ruled_out:
        lines += ["Ruled out:", *(f"- {line}" for line in notes.ruled_out)]
    return "\n".join(lines)


def _change(miss: NearMiss) -> list[str]:
    shown = [f"    {_one_line(line, LINE_CHARS)}" for line in miss.diff[:CHANGE_LINES]]
    more = len(miss.diff) - CHANGE_LINES
    return shown + ([f"    [... {more} more lines]"] if more > 0 else [])


def _numbers(numbers: Sequence[int]) -> str:
    shown = ", ".join(f"#{n}" for n in numbers[-5:])
    return shown if len(numbers) <= 5 else f"..., {shown}"


def _delta(delta: float | None, name: str = "best delta") -> str:
    return f", {name} {delta:+.4g}" if delta is not None else ""


def _one_line(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
