"""Seeded synthetic research problems for bench_search.py: a training script whose metric
(lower is better) depends on six numeric constants and sixteen structural moves (and
forty weak ones).

The metric of a tree is

    1 + (d - 0)' A (d - 0)  +  sum of the enabled moves' effects  +  their pair interactions

where d is how far each constant is from its optimum, in decades (log10), and A couples
LR with BATCH. Enabling some moves shifts a constant's optimum (a structural keep asks for
re-tuning). Moves come in five families of alternatives: two moves of one family often
conflict. A few cross-family pairs are synergies, one pair does not build together, and
two moves are traps: slightly bad, but so noisy (5x) that one run can look very good.
A measurement adds Gaussian noise (sd ``NOISE`` = 0.15 % of the metric); a screened run is
a cheaper, biased, noisier proxy. The best possible value is found by enumerating every
set of moves with each constant at its optimum.

The tree is text (``render``/``parse``): the search modules normalise, diff and tune it as
they would a real target.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
import re
from dataclasses import dataclass

import numpy

from autoresearch.decide import code_text

FILENAME = "train.py"
NOISE = 0.0015
TRAP_NOISE = 5.0  # a trap's noise, in multiples of NOISE
SCREEN_NOISE = 1.5
FAMILIES = {
    "norm": ("rms", "layer", "scale"),
    "attention": ("rotary", "alibi", "window", "gqa"),
    "optimizer": ("muon", "lion", "nesterov"),
    "schedule": ("cosine", "linear", "plateau"),
    "regularise": ("zloss", "labelsmooth", "stochdepth"),
}
TWEAKS = 8  # weak ideas per family: never worth keeping, so the idea space does not run out
# name, start value, is int
CONSTANTS = (("LR", 0.02, False), ("WARMUP", 0.1, False), ("WEIGHT_DECAY", 0.1, False),
             ("BATCH", 64, True), ("DEPTH", 4, True), ("DROPOUT", 0.1, False))


@dataclass(frozen=True)
class Move:
    name: str  # the function the enabled move calls: norm_rms
    family: str
    variant: str
    effect: float  # on the metric, alone
    noise: float  # its runs' noise, in multiples of NOISE
    screen_effect: float  # its effect in the screened run
    shift: tuple[int, float] | None  # (constant, decades) its optimum moves by

    @property
    def line(self) -> str:
        return f"    x = {self.name}(x)"


@dataclass(frozen=True)
class State:
    values: tuple[float, ...]  # the constants, in CONSTANTS order
    moves: frozenset[int]


class Problem:
    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.seed = seed
        self.start = tuple(float(v) for _, v, _ in CONSTANTS)
        self.optimum = tuple(self._optimum(rng, v, is_int) for _, v, is_int in CONSTANTS)
        self.curvature = tuple(rng.uniform(0.02, 0.08) for _ in CONSTANTS)
        self.screen_lr_shift = rng.gauss(0, 0.1)
        self.main = sum(len(variants) for variants in FAMILIES.values())
        self.moves = self._moves(rng)
        self.interactions = self._interactions(rng)
        self.broken_pair = frozenset(rng.sample(range(self.main), 2))
        self.baseline = self.value(State(self.start, frozenset()))
        self.best_possible = self._best_possible()

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def _optimum(rng: random.Random, start: float, is_int: bool) -> float:
        """log10 of the optimum: 0.1 to 0.55 decades from the start, either way."""
        offset = rng.uniform(0.1, 0.55) * rng.choice((-1, 1))
        if is_int and start * 10 ** offset < 1:
            offset = -offset
        return math.log10(start) + offset

    def _moves(self, rng: random.Random) -> tuple[Move, ...]:
        moves = []
        for family, variants in FAMILIES.items():
            for variant in variants:
                kind = rng.random()
                if kind < 0.3:
                    effect = -rng.uniform(0.004, 0.025)
                elif kind < 0.6:
                    effect = rng.uniform(-0.002, 0.002)
                else:
                    effect = rng.uniform(0.003, 0.03)
                shift = None
                if rng.random() < 0.25:
                    shift = (rng.randrange(len(CONSTANTS)), rng.uniform(0.15, 0.4)
                             * rng.choice((-1, 1)))
                moves.append(Move(f"{family}_{variant}", family, variant, effect, 1.0,
                                  effect * rng.uniform(0.5, 1.2) + rng.gauss(0, 0.004), shift))
        for index in rng.sample(range(len(moves)), 2):  # the traps
            trap = moves[index]
            moves[index] = Move(trap.name, trap.family, trap.variant, rng.uniform(0.002, 0.006),
                                TRAP_NOISE, -0.01, None)
        for family in FAMILIES:
            for number in range(1, TWEAKS + 1):
                effect = rng.uniform(0.0005, 0.01)
                moves.append(Move(f"{family}_tweak{number}", family, f"tweak{number}", effect,
                                  1.0, effect * rng.uniform(0.5, 1.2), None))
        return tuple(moves)

    def _interactions(self, rng: random.Random) -> dict[frozenset[int], float]:
        pairs: dict[frozenset[int], float] = {}
        main = range(self.main)
        for i, j in itertools.combinations(main, 2):
            if self.moves[i].family == self.moves[j].family and rng.random() < 0.5:
                pairs[frozenset((i, j))] = rng.uniform(0.005, 0.02)
        cross = [(i, j) for i, j in itertools.combinations(main, 2)
                 if self.moves[i].family != self.moves[j].family]
        for i, j in rng.sample(cross, 3):
            pairs[frozenset((i, j))] = -rng.uniform(0.005, 0.015)
        return pairs

    def _best_possible(self) -> float:
        """Every set of main moves (as bit masks; a tweak never helps), each constant at its
        optimum."""
        masks = numpy.arange(1 << self.main)
        total = numpy.zeros(len(masks))
        for index, move in enumerate(self.moves[: self.main]):
            total += numpy.where(masks & (1 << index), move.effect, 0.0)
        for pair, effect in self.interactions.items():
            bits = sum(1 << index for index in pair)
            total += numpy.where(masks & bits == bits, effect, 0.0)
        broken = sum(1 << index for index in self.broken_pair)
        total[masks & broken == broken] = numpy.inf
        return 1 + float(total.min())

    # -- the metric ----------------------------------------------------------------------------
    def optimum_of(self, moves: frozenset[int]) -> list[float]:
        """log10 of each constant's optimum with these moves enabled."""
        optimum = list(self.optimum)
        for index in moves:
            if self.moves[index].shift:
                constant, decades = self.moves[index].shift
                optimum[constant] += decades
        return optimum

    def _constants(self, state: State, screen: bool = False) -> float:
        optimum = self.optimum_of(state.moves)
        if screen:
            optimum[0] += self.screen_lr_shift
        d = [math.log10(max(v, 1e-12)) - o for v, o in zip(state.values, optimum)]
        total = sum(c * x * x for c, x in zip(self.curvature, d))
        coupling = 0.5 * math.sqrt(self.curvature[0] * self.curvature[3])
        return total + 2 * coupling * d[0] * d[3]

    def _structure(self, moves: frozenset[int], screen: bool = False) -> float:
        total = sum(self.moves[i].screen_effect if screen else self.moves[i].effect
                    for i in moves)
        return total + sum(v for pair, v in self.interactions.items() if pair <= moves)

    def value(self, state: State) -> float:
        """The true (noise-free) metric."""
        return 1 + self._constants(state) + self._structure(state.moves)

    def builds(self, state: State) -> bool:
        return not self.broken_pair <= state.moves

    def measure(self, state: State, rng: random.Random) -> float:
        noise = max(self.moves[i].noise for i in state.moves) if state.moves else 1.0
        return self.value(state) + rng.gauss(0, NOISE * noise)

    def screen(self, state: State, rng: random.Random) -> float:
        noise = max(self.moves[i].noise for i in state.moves) if state.moves else 1.0
        true = 1 + self._constants(state, True) + self._structure(state.moves, True)
        return true + rng.gauss(0, NOISE * SCREEN_NOISE * noise)

    def gap_closed(self, value: float) -> float:
        """How much of the way from the baseline to the best possible, in percent."""
        return 100 * (self.baseline - value) / (self.baseline - self.best_possible)

    # -- the tree as text ------------------------------------------------------------------------
    def render(self, state: State, touched: str | None = None, cosmetic: str = "") -> str:
        """The target file; ``cosmetic`` ("comment" or "spacing") restyles the line of
        ``touched`` (a constant or a move name) without changing the code."""
        lines = ['"""A synthetic training script (bench/search_problem.py)."""']
        for (name, _, is_int), value in zip(CONSTANTS, state.values):
            literal = str(int(round(value))) if is_int else f"{value:.4g}"
            if "." not in literal and "e" not in literal and not is_int:
                literal += ".0"
            lines.append(_styled(f"{name} = {literal}", name == touched, cosmetic))
        lines += ["", "", "def model(x):", "    x = embed(x)"]
        for index, move in enumerate(self.moves):
            if index in state.moves:
                lines.append(_styled(move.line, move.name == touched, cosmetic))
        lines += ["    return head(x)", ""]
        return "\n".join(lines)

    def parse(self, text: str) -> State | None:
        """The state a tree holds, or None when it does not build."""
        try:
            ast.parse(text)
        except SyntaxError:
            return None
        code = "\n".join(code_text(text, FILENAME))
        values = []
        for name, start, _ in CONSTANTS:
            found = re.search(rf"^{name}\s*=\s*([-+0-9.eE_]+)", code, re.MULTILINE)
            values.append(float(found.group(1)) if found else start)
        moves = frozenset(i for i, move in enumerate(self.moves)
                          if re.search(rf"\b{move.name}\(", code))
        state = State(tuple(values), moves)
        return state if self.builds(state) else None


def _styled(line: str, touched: bool, cosmetic: str) -> str:
    if not touched or not cosmetic:
        return line
    if cosmetic == "comment":
        return f"{line}  # changed by the agent"
    return re.sub(r" = ", "  =  ", line).replace("(x)", "( x )")


def broken(text: str, touched_line: str) -> str:
    """``text`` with an unclosed parenthesis on ``touched_line``: the build breaks."""
    return text.replace(touched_line, touched_line.rstrip(")"), 1) if touched_line in text \
        else text + "\n    x = (\n"
