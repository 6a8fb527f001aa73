"""The directions already tried: past experiments grouped by what they changed and said.

Two experiments are in one direction when their token bags (``novelty.tokens``: the
description's words, the changed lines and their identifiers) are at least ``JOIN``
similar; groups are joined transitively (single link). A direction is labelled by the
tokens its experiments share most, weighted so that tokens common to every experiment
("x", "self") do not name it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from autoresearch.search.novelty import Past, similarity, tokens, weights

JOIN = 0.3  # similarity that puts two experiments in one direction
LABEL_WORDS = 3
LIMIT = 8  # directions listed in a pivot prompt


@dataclass(frozen=True)
class Direction:
    label: str  # the words that name it: "lr, warmup"
    numbers: tuple[int, ...]  # its experiments, oldest first
    kept: int
    best_delta: float | None  # the most favourable delta among them (direction-aware)


def directions(past: Sequence[Past], lower_is_better: bool = True,
               limit: int = LIMIT) -> list[Direction]:
    """The most-tried directions first (ties: the most recent first)."""
    bags = [tokens(p.description, p.change) for p in past]
    idf = weights(bags)
    parent = list(range(len(past)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(past)):
        for j in range(i):
            if root(i) != root(j) and similarity(bags[i], bags[j], idf) >= JOIN:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(past)):
        groups.setdefault(root(i), []).append(i)
    found = [_direction([past[i] for i in members], [bags[i] for i in members], idf,
                        lower_is_better) for members in groups.values()]
    found.sort(key=lambda d: (-len(d.numbers), -d.numbers[-1]))
    return found[:limit]


def _direction(members: list[Past], bags: list[Counter[str]], idf: dict[str, float],
               lower_is_better: bool) -> Direction:
    shared: Counter[str] = Counter()
    for bag in bags:
        shared.update({t: idf[t] for t in bag if t.startswith("w:")})
    words = [token[2:] for token, _ in shared.most_common(LABEL_WORDS)]
    deltas = [p.delta for p in members if p.delta is not None]
    best = (min if lower_is_better else max)(deltas) if deltas else None
    return Direction(label=", ".join(words) or "(no words)",
                     numbers=tuple(p.number for p in members),
                     kept=sum(p.status == "keep" for p in members), best_delta=best)
