"""Keep, discard or crash: the verdict on one experiment, as pure functions (no I/O).

The rule, in the order ``judge`` applies it:

1. **crash** — the run reported a crash reason, or gave no metric, or a metric that is
   not finite (NaN, ±inf). The reason is the crash reason, else "no metric" (or
   "metric is nan" / "metric is inf").
2. **keep "baseline"** — there is no best yet: the first measured run is the baseline.
3. **keep "improved"** — the improvement over the best exceeds the *threshold*.
   Improvement is ``best - value`` when lower is better, ``value - best`` when higher is.
   The threshold is the larger of
   - ``min_delta``: absolute, or a fraction of ``|best|`` when configured as "0.5%";
   - the noise floor: the calibrated ``Best.noise_floor`` (``setup --calibrate``) when
     known, else 2 × the median absolute deviation of the best's repeated samples when
     there are at least 3 of them.
4. **keep "simpler"** — the metric is equal within the threshold (``|difference| <=
   threshold``, better or worse) and the candidate has fewer code lines than the best:
   "simpler wins, deletion is best".
5. **discard "within noise floor (±X)"** — the improvement beats ``min_delta`` but not the
   noise floor X.
6. **discard "not improved"** — anything else: equal, worse, or too small a gain.

``code_lines`` counts non-blank, non-comment lines (the "simpler" measure). It is a
line heuristic, not a parser: a line is a comment when nothing but whitespace is left
after removing comments; comment markers inside string literals are not recognised.
Python docstrings count as code.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from autoresearch.errors import ConfigError

DIRECTIONS = ("lower_is_better", "higher_is_better")
AGGREGATES = ("median", "min", "mean")


@dataclass(frozen=True)
class Policy:
    """How to compare: the metric's direction, the minimum gain and how repeats combine."""

    direction: str
    min_delta: float = 0.0
    min_delta_relative: bool = False  # True when configured as "0.5%": fraction of |best|
    aggregate: str = "median"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"metric_direction: {self.direction!r} is not valid; "
                f"use one of {', '.join(DIRECTIONS)}"
            )
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"aggregate: {self.aggregate!r} is not valid; use one of {', '.join(AGGREGATES)}"
            )
        if not (self.min_delta >= 0 and math.isfinite(self.min_delta)):
            raise ConfigError(
                f"min_delta: {self.min_delta!r} is not valid; use a non-negative number"
            )


@dataclass(frozen=True)
class Candidate:
    """The experiment just run."""

    value: float | None  # aggregated value; None means it crashed
    samples: tuple[float, ...] = ()
    crash_reason: str | None = None
    code_lines: int | None = None  # non-blank, non-comment lines of the target file(s)


@dataclass(frozen=True)
class Best:
    """The best kept experiment so far."""

    value: float
    samples: tuple[float, ...] = ()
    code_lines: int | None = None
    noise_floor: float | None = None  # calibrated floor (setup --calibrate), overrides samples


@dataclass(frozen=True)
class Decision:
    status: str  # "keep" | "discard" | "crash"
    reason: str  # "baseline", "improved", "simpler", "not improved", "within noise floor (±X)"


def parse_min_delta(raw: str | float | int) -> tuple[float, bool]:
    """Parse a configured min_delta: "0.01" → (0.01, False), "0.5%" → (0.005, True)."""
    text = str(raw).strip()
    relative = text.endswith("%")
    number = text[:-1].strip() if relative else text
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if isinstance(raw, bool) or not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"min_delta: {raw!r} is not valid; use a non-negative number (0.01) "
            "or a percentage of the best value (0.5%)"
        )
    return (value / 100, True) if relative else (value, False)


def aggregate(samples: Sequence[float], how: str) -> float:
    """Combine repeated measurements into one value ("median", "min" or "mean")."""
    if not samples:
        raise ValueError("aggregate needs at least one sample")
    combine = {"median": statistics.median, "min": min, "mean": statistics.fmean}
    if how not in combine:
        raise ValueError(f"unknown aggregate {how!r}; use one of {', '.join(AGGREGATES)}")
    return float(combine[how](samples))


def noise_floor(samples: Sequence[float]) -> float | None:
    """2 × the median absolute deviation of the samples, or None with fewer than 3."""
    if len(samples) < 3:
        return None
    centre = statistics.median(samples)
    return 2 * statistics.median(abs(sample - centre) for sample in samples)


def improvement(value: float, best: float, direction: str) -> float:
    """How much better ``value`` is than ``best``; positive means better."""
    if direction == "lower_is_better":
        return best - value
    if direction == "higher_is_better":
        return value - best
    raise ValueError(f"unknown direction {direction!r}; use one of {', '.join(DIRECTIONS)}")


def _min_margin(best: Best, policy: Policy) -> float:
    """The configured min_delta as an absolute amount."""
    if policy.min_delta_relative:
        return policy.min_delta * abs(best.value)
    return policy.min_delta


def _best_noise(best: Best) -> float | None:
    """The calibrated noise floor if known, else the one from the best's samples."""
    if best.noise_floor is not None:
        return best.noise_floor
    return noise_floor(best.samples)


def threshold(best: Best, policy: Policy) -> float:
    """The margin an improvement must exceed: max(min_delta, noise floor when known)."""
    return max(_min_margin(best, policy), _best_noise(best) or 0.0)


def _crash_reason(candidate: Candidate) -> str | None:
    """Why the candidate counts as a crash, or None if it produced a usable metric."""
    if candidate.crash_reason:
        return candidate.crash_reason
    if candidate.value is None:
        return "no metric"
    if not math.isfinite(candidate.value):
        return f"metric is {candidate.value}"
    return None


def _is_simpler(candidate: Candidate, best: Best) -> bool:
    """True when both line counts are known and the candidate's is smaller."""
    if candidate.code_lines is None or best.code_lines is None:
        return False
    return candidate.code_lines < best.code_lines


def judge(candidate: Candidate, best: Best | None, policy: Policy) -> Decision:
    """Decide keep/discard/crash by the rule in the module docstring."""
    crash = _crash_reason(candidate)
    if crash is not None:
        return Decision("crash", crash)
    if best is None:
        return Decision("keep", "baseline")
    gain = improvement(candidate.value, best.value, policy.direction)
    margin = threshold(best, policy)
    if gain > margin:
        return Decision("keep", "improved")
    if abs(gain) <= margin and _is_simpler(candidate, best):
        return Decision("keep", "simpler")
    if gain > _min_margin(best, policy):
        return Decision("discard", f"within noise floor (±{margin:.6g})")
    return Decision("discard", "not improved")


@dataclass(frozen=True)
class _CommentSyntax:
    line: str  # starts a comment running to the end of the line
    block: tuple[str, str] | None = None  # (open, close) of a block comment


_HASH = _CommentSyntax("#")
_C_STYLE = _CommentSyntax("//", ("/*", "*/"))
_DASHES = _CommentSyntax("--")
_SYNTAX_BY_SUFFIX = {
    **dict.fromkeys(".py .sh .rb .yaml .yml .toml .r".split(), _HASH),
    **dict.fromkeys(
        (
            ".js .jsx .ts .tsx .mjs .cjs .java .kt .kts .dart .c .cc .cpp .h .go .rs .swift"
            " .scala .cs"
        ).split(),
        _C_STYLE,
    ),
    **dict.fromkeys(".sql .lua .hs".split(), _DASHES),
}


def _code_in_line(line: str, syntax: _CommentSyntax, in_block: bool) -> tuple[str, bool]:
    """The part of ``line`` outside comments, and whether a block comment is still open."""
    code = []
    while line:
        if in_block:
            end = line.find(syntax.block[1])
            if end < 0:
                break
            line, in_block = line[end + len(syntax.block[1]) :], False
            continue
        line_start = line.find(syntax.line)
        block_start = line.find(syntax.block[0]) if syntax.block else -1
        if block_start < 0 or 0 <= line_start < block_start:
            code.append(line if line_start < 0 else line[:line_start])
            break
        code.append(line[:block_start])
        line, in_block = line[block_start + len(syntax.block[0]) :], True
    return "".join(code), in_block


def strip_comments(text: str, filename: str) -> list[str]:
    """The lines of ``text`` without their comments; comment syntax follows the extension."""
    syntax = _SYNTAX_BY_SUFFIX.get(PurePath(filename).suffix.lower(), _HASH)
    lines = []
    in_block = False
    for line in text.splitlines():
        code, in_block = _code_in_line(line, syntax, in_block)
        lines.append(code)
    return lines


def code_lines(text: str, filename: str) -> int:
    """Count non-blank, non-comment lines; comment syntax follows the file extension."""
    return sum(bool(code.strip()) for code in strip_comments(text, filename))
