"""Novelty before cost: duplicates are not run, and near-duplicates are shown to the agent.

A candidate is a **duplicate** when its normalised code (``normalise.fingerprint``) equals
that of an experiment already measured, whatever its commit, or when its normalised change
is empty ("no change"), or when its normalised change equals one already measured on
another base (``same_change``, on by default: bench/bench_search.py finds that skipping
those is where most of the gain over greedy comes from; docs/performance.md).

**Similarity** is a weighted Jaccard index over tokens of the description and the change:
the words of the description, the identifiers and numbers of the changed lines (and the
parts of snake_case and camelCase names), and each whole changed line. Tokens that most
past experiments share weigh little (inverse document frequency), so "x" or "self" do not
make two changes alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from autoresearch.search.normalise import change_key

SIMILAR_LIMIT = 5  # past experiments shown to the agent
SIMILAR_FLOOR = 0.25  # below this similarity an experiment is not worth showing
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_CAMEL = re.compile(r"[a-z]+|[A-Z][a-z]*|\d+")
_STOPWORDS = frozenset(
    "a an and as at by for from in into is it of on or the to with use using set make "
    "try change changed bit".split()
)


@dataclass(frozen=True)
class Past:
    """One measured experiment, as novelty and directions see it."""

    number: int
    status: str  # keep | discard | crash
    description: str
    change: tuple[str, ...]  # normalise.change against its base
    delta: float | None = None  # the metric minus the best it was judged against


@dataclass(frozen=True)
class Duplicate:
    of: int | None  # the experiment it repeats; None for "no change"
    reason: str  # for the log: "same code as #12 (whitespace and comments aside)"


@dataclass
class NoveltyIndex:
    """The code and the changes already measured; the coordinator adds each experiment.

    It holds only hashes (``normalise.fingerprint`` and ``normalise.change_key``), so a
    resumed loop can rebuild it from the records (``remember``).
    """

    same_change: bool = True
    codes: dict[str, int] = field(default_factory=dict)  # fingerprint -> first experiment
    changes: dict[str, int] = field(default_factory=dict)  # change key -> first experiment

    def add(self, number: int, fingerprint: str, change: tuple[str, ...]) -> None:
        self.remember(number, fingerprint, change_key(change) if change else None)

    def remember(self, number: int, fingerprint: str, change: str | None) -> None:
        self.codes.setdefault(fingerprint, number)
        if change:
            self.changes.setdefault(change, number)

    def duplicate(self, fingerprint: str, change: tuple[str, ...]) -> Duplicate | None:
        """Why the candidate need not run, or None when it is new."""
        if not change:
            return Duplicate(None, "no change (whitespace and comments aside)")
        if fingerprint in self.codes:
            number = self.codes[fingerprint]
            return Duplicate(number, f"same code as #{number} (whitespace and comments aside)")
        number = self.changes.get(change_key(change)) if self.same_change else None
        if number is not None:
            return Duplicate(number, f"same change as #{number} (on another base)")
        return None


def tokens(description: str, change: Sequence[str]) -> Counter[str]:
    """The tokens of an experiment; see the module docstring."""
    found: Counter[str] = Counter()
    for word in _WORD.findall(description.lower()):
        if word not in _STOPWORDS and len(word) > 1:
            found[f"w:{word}"] += 1
    for line in change:
        found[f"l:{line}"] += 1
        code = line.split("|", 1)[-1] if "|" in line else line.split(":", 1)[-1]
        for word in _WORD.findall(code):
            found[f"w:{word.lower()}"] += 1
            parts = [p.lower() for piece in word.split("_") for p in _CAMEL.findall(piece)]
            if len(parts) > 1 and not word[0].isdigit():
                found.update(f"w:{part}" for part in parts if len(part) > 1)
    return found


def weights(bags: Iterable[Counter[str]]) -> dict[str, float]:
    """Inverse document frequency of each token over ``bags``."""
    bags = list(bags)
    seen: Counter[str] = Counter()
    for bag in bags:
        seen.update(bag.keys())
    return {token: math.log((1 + len(bags)) / (1 + count)) + 1 for token, count in seen.items()}


def similarity(a: Counter[str], b: Counter[str], idf: dict[str, float]) -> float:
    """Weighted Jaccard index of two token bags, 0 (nothing shared) to 1 (the same)."""
    shared = total = 0.0
    for token in a.keys() | b.keys():
        weight = idf.get(token, 1.0)
        shared += weight * min(a[token], b[token])
        total += weight * max(a[token], b[token])
    return shared / total if total else 0.0


@dataclass(frozen=True)
class Similar:
    score: float
    past: Past


def most_similar(description: str, change: Sequence[str], past: Sequence[Past],
                 limit: int = SIMILAR_LIMIT, floor: float = SIMILAR_FLOOR) -> list[Similar]:
    """The past experiments most like the candidate, most similar first (ties: newest)."""
    bags = [tokens(p.description, p.change) for p in past]
    query = tokens(description, change)
    idf = weights([*bags, query])
    scored = [Similar(similarity(query, bag, idf), p) for bag, p in zip(bags, past)]
    scored = [s for s in scored if s.score >= floor]
    scored.sort(key=lambda s: (-s.score, -s.past.number))
    return scored[:limit]
