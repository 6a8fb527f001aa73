"""The scripted stochastic proposer that stands in for the model in bench_search.py.

Each call it makes one change to the tree it is given, drawn from a known distribution:

- a constant (``p_constant``) moved by 0.05-0.35 decades, towards its optimum with
  probability ``p_toward``; or a structural move enabled (chosen with a prior that knows
  each move's effect only roughly: ``insight`` is the prior's temperature, its belief has
  noise ``belief_noise``, and it believes the traps are good) or, ``p_remove``, disabled;
- depth first: ``p_stick`` of the time it stays in the family of its last change;
- ``p_repeat`` of the time it repeats one of its last ten ideas (the same target value,
  the same move); otherwise, ``p_recall`` of the time, it leaves out the moves among the
  75 ideas the prompt lists, as a model reading its history would; ``p_break`` of the time
  the build breaks; ``p_cosmetic`` of the time the changed line gets a comment or odd
  spacing.

What the prompt asks (``Ask``) it follows with probability ``obedience``: at a pivot, to
leave the families of the directions listed; after a duplicate, to make a new change away
from the most similar past experiments shown; to combine two near-misses; under
``X+tune``, to leave the constants alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from search_problem import CONSTANTS, Problem, State, broken

RECENT_IDEAS = 10  # what a repeat draws from
HISTORY_IDEAS = 75  # ideas the prompt lists (prompt.RECENT + prompt.TRIED)


@dataclass(frozen=True)
class Behaviour:
    p_constant: float = 0.45
    p_toward: float = 0.65
    p_stick: float = 0.6
    p_remove: float = 0.15
    p_repeat: float = 0.12
    p_break: float = 0.07
    p_cosmetic: float = 0.3
    p_recall: float = 0.8  # a fresh idea avoids the ideas the prompt lists
    insight: float = 0.012
    belief_noise: float = 0.008
    obedience: float = 0.7


@dataclass(frozen=True)
class Idea:
    kind: str  # enable | disable | set | combine | tune
    key: str  # a move's name or a constant's
    family: str  # norm ... or const:LR; a direction, as the proposer sees it
    value: float | None = None
    parts: tuple["Idea", ...] = ()  # of a combine, or a tune's constants as "set" ideas
    note: str = ""  # the tuner's own description

    @property
    def description(self) -> str:
        if self.kind == "tune":
            return self.note
        if self.kind == "set":
            return f"set {self.key} to {self.value:.4g}"
        if self.kind == "combine":
            return " and ".join(part.description for part in self.parts)
        family, variant = self.key.split("_", 1)
        return f"{'use' if self.kind == 'enable' else 'remove'} {variant} {family}"


@dataclass(frozen=True)
class Ask:
    """What the prompt asks this time, as the stand-in reads it."""

    avoid: frozenset[str] = frozenset()  # families of the directions or similar ones shown
    combine: tuple[Idea, Idea] | None = None
    repeated: bool = False  # the last proposal was a duplicate or no change
    structural_only: bool = False  # agent X+tune: the tuner owns the constants


@dataclass
class Proposer:
    problem: Problem
    rng: random.Random
    behaviour: Behaviour = field(default_factory=Behaviour)
    ideas: list[Idea] = field(default_factory=list)

    def __post_init__(self) -> None:
        noise = self.behaviour.belief_noise
        self.belief = [(-0.01 if move.noise > 1 else move.effect + self.rng.gauss(0, noise))
                       for move in self.problem.moves]

    def propose(self, base: str, ask: Ask) -> tuple[str, Idea]:
        """The changed tree and the idea behind it."""
        b, rng = self.behaviour, self.rng
        state = self.problem.parse(base)
        follows = rng.random() < b.obedience
        if ask.combine and follows:
            idea = Idea("combine", ask.combine[0].key, ask.combine[0].family, parts=ask.combine)
        elif self.ideas and rng.random() < b.p_repeat and not (ask.repeated and follows):
            idea = rng.choice(self.ideas[-RECENT_IDEAS:])
        else:
            recalled = self.ideas[-HISTORY_IDEAS:] if rng.random() < b.p_recall else []
            idea = self._fresh(state, ask.avoid if follows else frozenset(),
                               ask.structural_only and follows, recalled)
        self.ideas.append(idea)
        new = apply(self.problem, state, idea)
        touched = (idea.parts[-1] if idea.parts else idea).key
        cosmetic = rng.choice(("comment", "spacing")) if rng.random() < b.p_cosmetic else ""
        text = self.problem.render(new, touched, cosmetic)
        if rng.random() < b.p_break:
            text = broken(text, f"x = {touched}(x)")
        return text, idea

    def _fresh(self, state: State, avoid: frozenset[str], structural_only: bool,
               recalled: list[Idea]) -> Idea:
        b, rng = self.behaviour, self.rng
        families = [f"const:{name}" for name, _, _ in CONSTANTS] * (not structural_only)
        families += sorted({move.family for move in self.problem.moves})
        allowed = [f for f in families if f not in avoid] or families
        last = self.ideas[-1].family if self.ideas else None
        if last in allowed and rng.random() < b.p_stick:
            family = last
        elif not structural_only and rng.random() < b.p_constant and \
                any(f.startswith("const:") for f in allowed):
            family = rng.choice([f for f in allowed if f.startswith("const:")])
        else:
            structural = [f for f in allowed if not f.startswith("const:")] or \
                [f for f in families if not f.startswith("const:")]
            family = rng.choices(structural, [self._appeal(state, f) for f in structural])[0]
        if family.startswith("const:"):
            return self._set(state, family)
        return self._toggle(state, family, recalled)

    def _appeal(self, state: State, family: str) -> float:
        weights = [self._weight(i) for i, m in enumerate(self.problem.moves)
                   if m.family == family and i not in state.moves]
        return max(weights, default=0.05)

    def _weight(self, index: int) -> float:
        return math.exp(-self.belief[index] / self.behaviour.insight)

    def _set(self, state: State, family: str) -> Idea:
        b, rng = self.behaviour, self.rng
        name = family.split(":", 1)[1]
        index = [c[0] for c in CONSTANTS].index(name)
        current = math.log10(state.values[index])
        optimum = self.problem.optimum_of(state.moves)[index]
        toward = 1 if optimum > current else -1
        sign = toward if rng.random() < b.p_toward else -toward
        value = 10 ** (current + sign * rng.uniform(0.05, 0.35))
        if CONSTANTS[index][2]:
            value = max(1, round(value))
            if value == state.values[index]:
                value = max(1, value + sign)
        else:
            value = float(f"{value:.3g}")
        return Idea("set", name, family, value)

    def _toggle(self, state: State, family: str, recalled: list[Idea]) -> Idea:
        members = [i for i, m in enumerate(self.problem.moves) if m.family == family]
        fresh = [i for i in members if Idea("enable" if i not in state.moves else "disable",
                                            self.problem.moves[i].name, family) not in recalled]
        members = fresh or members
        enabled = [i for i in members if i in state.moves]
        disabled = [i for i in members if i not in state.moves]
        if enabled and (not disabled or self.rng.random() < self.behaviour.p_remove):
            index = self.rng.choice(enabled)
            return Idea("disable", self.problem.moves[index].name, family)
        index = self.rng.choices(disabled, [self._weight(i) for i in disabled])[0]
        return Idea("enable", self.problem.moves[index].name, family)


def apply(problem: Problem, state: State, idea: Idea) -> State:
    """``state`` with ``idea`` carried out."""
    if idea.kind in ("combine", "tune"):
        for part in idea.parts:
            state = apply(problem, state, part)
        return state
    if idea.kind == "set":
        index = [c[0] for c in CONSTANTS].index(idea.key)
        values = list(state.values)
        values[index] = idea.value
        return State(tuple(values), state.moves)
    index = [m.name for m in problem.moves].index(idea.key)
    moves = state.moves | {index} if idea.kind == "enable" else state.moves - {index}
    return State(state.values, moves)
