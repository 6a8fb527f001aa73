"""The simulated loop of bench_search.py: the coordinator's search logic, in process.

It holds and calls the search modules (autoresearch.search) and ``decide.judge`` the way
the real coordinator does, around the synthetic problem and the stand-in proposer instead
of git, an agent and a run. Costs are in full runs: a run (or a crash) costs 1, a screen
``SCREEN_COST``; duplicates and no-change proposals cost an agent call and no run.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from autoresearch.decide import Best, Candidate, Policy, code_lines, judge
from autoresearch.search import hybrid, nearmiss, plateau, screening
from autoresearch.search.directions import directions
from autoresearch.search.nearmiss import NearMiss, NearMissPool
from autoresearch.search.normalise import change, fingerprint
from autoresearch.search.novelty import NoveltyIndex, Past, most_similar
from autoresearch.search.tuning import WARM_POINTS, TunerMemory, observe
from search_problem import CONSTANTS, FILENAME, Problem, State
from search_proposer import Ask, Behaviour, Idea, Proposer
from search_tuner import Tuner

SCREEN_COST = 0.25
MAX_FAILURES = 5  # agent_max_failures: a bounded loop always ends
DIRECTION = "lower_is_better"


@dataclass(frozen=True)
class Strategy:
    name: str
    novelty: bool = False  # duplicates are not run; False: only byte-identical ones reuse
    same_change: bool = False
    pivot_after: int | None = None
    near_miss_pool: int = 0
    plans: tuple[str, ...] = (nearmiss.BRANCH, nearmiss.COMBINE)
    directions_since_keep: bool = True
    tune_share: float = 0.0
    tune_only: bool = False
    warm_points: int | None = WARM_POINTS  # None: one study for every structure
    tuner_answers_repeats: bool = True  # hybrid.next_proposer's rule, or the model re-asked
    screen_margin: float | None = None  # relative
    screen_cost: float = SCREEN_COST  # of a full run


@dataclass
class Run:
    costs: list[float] = field(default_factory=list)  # cumulative, after each experiment
    best: list[float] = field(default_factory=list)  # true value of the best, after each
    counts: Counter[str] = field(default_factory=Counter)
    saved_s: float = 0.0  # screening: full runs spared, net of screens, in full runs

    def best_at(self, budget: float, start: float) -> float:
        """The true value of the best within ``budget`` full runs."""
        value = start
        for cost, best in zip(self.costs, self.best):
            if cost > budget + 1e-9:
                break
            value = best
        return value


def simulate(problem: Problem, strategy: Strategy, seed: int, budget: float,
             behaviour: Behaviour = Behaviour()) -> Run:
    return _Loop(problem, strategy, seed, behaviour).run(budget)


class _Loop:
    def __init__(self, problem: Problem, strategy: Strategy, seed: int, behaviour: Behaviour):
        self.problem, self.strategy, self.seed = problem, strategy, seed
        self.noise = random.Random(seed * 7919 + 1)
        self.proposer = Proposer(problem, random.Random(seed * 7919 + 2), behaviour)
        self.policy = Policy(DIRECTION)
        self.index = NoveltyIndex(same_change=strategy.same_change)
        self.pool = NearMissPool(strategy.near_miss_pool, DIRECTION)
        self.plateau = plateau.Plateau(strategy.pivot_after) if strategy.pivot_after else None
        self.tuning = strategy.tune_share > 0 or strategy.tune_only
        self.memory = TunerMemory(DIRECTION, strategy.warm_points or 0)
        self.savings = screening.Savings()
        self.past: list[Past] = []
        self.texts: dict[int, str] = {}
        self.ideas: dict[int, Idea] = {}
        self.measured: dict[str, float | None] = {}  # bytes -> value: the engine's cache
        self.out = Run()
        self.turn = 0

    # -- the session ------------------------------------------------------------------------
    def run(self, budget: float) -> Run:
        start = self.problem.render(State(self.problem.start, frozenset()))
        self.tuner = Tuner(start, self.seed) if self.tuning else None
        self.cost = 0.0
        self._baseline(start)
        failures = 0
        while self.cost < budget - 1e-9 and failures < MAX_FAILURES:
            failures = self._cycle()
        self.out.saved_s = self.savings.saved_s
        return self.out

    def _baseline(self, text: str) -> None:
        value = self.problem.measure(self.problem.parse(text), self.noise)
        self.best = Best(value, (value,), code_lines(text, FILENAME))
        self.best_text, self.best_number = text, 0
        self.best_screened = None
        if self.strategy.screen_margin is not None:
            self.best_screened = self.problem.screen(self.problem.parse(text), self.noise)
            self.cost += self.strategy.screen_cost
        self.texts[0] = text
        self.index.add(0, fingerprint({FILENAME: text}), ())
        self.measured[text] = value
        if self.tuner:
            kept = observe(0, {FILENAME: text}, value)
            self.memory.add(kept)
            self.memory.on_keep(kept)
            self.tuner.restart(self.memory.study())

    def _cycle(self) -> int:
        """One experiment (after as many asks as it takes); the agent failures in a row."""
        base, ask, plan = self._plan()
        pivot = ask.avoid or plan is not None
        failures, model_repeated = 0, False
        while True:
            text, idea, trial = self._ask(base, ask, pivot, model_repeated)
            why = self._rejected(base, text)
            if why is None:
                break
            model_repeated = idea.kind != "tune"
            self.out.counts[why] += 1
            failures += 1
            if failures >= MAX_FAILURES:
                self.out.counts["ended early"] += 1
                return failures
            ask = Ask(ask.avoid | self._similar_families(base, text, idea), None, True,
                      ask.structural_only)
        self._experiment(base, text, idea, trial, plan)
        return 0

    # -- before the agent: plateau, pivot, near-misses -------------------------------------------
    def _plan(self) -> tuple[str, Ask, nearmiss.PivotPlan | None]:
        structural_only = self.strategy.tune_share > 0
        if self.plateau is None:
            return self.best_text, Ask(structural_only=structural_only), None
        without = plateau.since_keep(p.status for p in self.past)
        if self.plateau.next_step(without) != plateau.PIVOT:
            return self.best_text, Ask(structural_only=structural_only), None
        self.out.counts["pivot"] += 1
        plan = self._pivot_plan(self.plateau.pivot_number(without))
        avoid = self._tried_families(without)
        if plan and plan.kind == nearmiss.BRANCH:
            self.out.counts["branch"] += 1
            return self.texts[plan.misses[0].number], Ask(avoid, None, False,
                                                          structural_only), plan
        if plan and plan.kind == nearmiss.COMBINE:
            self.out.counts["combine"] += 1
            pair = (self.ideas[plan.misses[0].number], self.ideas[plan.misses[1].number])
            return self.best_text, Ask(avoid, pair, False, structural_only), plan
        return self.best_text, Ask(avoid, None, False, structural_only), None

    def _pivot_plan(self, number: int) -> nearmiss.PivotPlan | None:
        plans = self.strategy.plans
        if not plans or self.pool.size == 0:
            return None
        kind = plans[(number - 1) % len(plans)]
        return self.pool.plan(1 if kind == nearmiss.BRANCH else 2)

    def _tried_families(self, without: int) -> frozenset[str]:
        """The directions a pivot prompt lists, as the stand-in reads them."""
        tried = self.past[len(self.past) - without:] if self.strategy.directions_since_keep \
            else self.past
        return frozenset(self._family(d.numbers) for d in directions(tried))

    def _similar_families(self, base: str, text: str, idea: Idea) -> frozenset[str]:
        """The re-ask after a duplicate shows the most similar past experiments."""
        if not self.strategy.novelty:
            return frozenset()
        similar = most_similar(idea.description, change({FILENAME: base}, {FILENAME: text}),
                               self.past)
        return frozenset(self.ideas[s.past.number].family for s in similar)

    def _family(self, numbers: tuple[int, ...]) -> str:
        """The family most of these experiments changed: how the stand-in reads a direction."""
        return Counter(self.ideas[n].family for n in numbers).most_common(1)[0][0]

    # -- the agent, and the checks before the run --------------------------------------------------
    def _ask(self, base: str, ask: Ask, pivot: bool, model_repeated: bool):
        """The proposal of whoever's turn it is (the hybrid's rules: hybrid.next_proposer)."""
        who = hybrid.TUNE if self.strategy.tune_only else hybrid.MODEL
        if self.strategy.tune_share > 0:
            who, self.turn = hybrid.next_proposer(self.turn, self.strategy.tune_share,
                                                  self.seed, pivot=pivot,
                                                  model_repeated=model_repeated and
                                                  self.strategy.tuner_answers_repeats)
        self.out.counts[who] += 1
        if who == hybrid.TUNE:
            text, description, trial = self.tuner.propose(base)
            return text, self._tune_idea(base, text, description), trial
        text, idea = self.proposer.propose(base, ask)
        return text, idea, None

    def _tune_idea(self, base: str, text: str, description: str) -> Idea:
        """The tuner's proposal as the constants it set (for a combine prompt)."""
        before, after = self.problem.parse(base), self.problem.parse(text)
        parts = () if after is None else tuple(
            Idea("set", name, f"const:{name}", new)
            for (name, _, _), old, new in zip(CONSTANTS, before.values, after.values)
            if old != new)
        return Idea("tune", "tune", "const:tune", parts=parts, note=description)

    def _rejected(self, base: str, text: str) -> str | None:
        """Why the proposal is not run: "no change", "duplicate", or None."""
        if text == base:
            return "no change"
        if self.strategy.novelty:
            duplicate = self.index.duplicate(fingerprint({FILENAME: text}),
                                             change({FILENAME: base}, {FILENAME: text}))
            if duplicate is not None:
                return "no change" if duplicate.of is None else "duplicate"
        return None

    # -- the run and the decision ---------------------------------------------------------------
    def _experiment(self, base: str, text: str, idea: Idea, trial, plan) -> None:
        number = len(self.past) + 1
        self.texts[number], self.ideas[number] = text, idea
        state = self.problem.parse(text)
        screened = None
        if self.strategy.screen_margin is not None:
            screened = None if state is None else self.problem.screen(state, self.noise)
            self.cost += self.strategy.screen_cost
            verdict = screening.verdict(screened, self.best_screened,
                                        self.strategy.screen_margin, True, DIRECTION,
                                        None if state else "build failed")
            self.savings.screened(self.strategy.screen_cost, full_run_follows=verdict is None)
            if verdict is not None:
                self._record(number, base, text, idea, trial, None, verdict, screened)
                return
        value = self._measure(text, state)
        self.cost += 1
        self.savings.full_run(1.0)
        self.out.counts["full run"] += 1
        candidate = Candidate(value, () if value is None else (value,),
                              None if value is not None else "build failed",
                              code_lines(text, FILENAME))
        self._record(number, base, text, idea, trial, value,
                     judge(candidate, self.best, self.policy), screened)

    def _measure(self, text: str, state: State | None) -> float | None:
        if not self.strategy.novelty and text in self.measured:
            self.out.counts["reused"] += 1
            return self.measured[text]
        value = None if state is None else self.problem.measure(state, self.noise)
        self.measured[text] = value
        return value

    def _record(self, number, base, text, idea, trial, value, decision, screened) -> None:
        diff = change({FILENAME: base}, {FILENAME: text})
        delta = None if value is None else value - self.best.value
        self.past.append(Past(number, decision.status, idea.description, diff, delta))
        self.index.add(number, fingerprint({FILENAME: text}), diff)
        self.out.counts[decision.status] += 1
        if decision.reason == screening.SCREENED_OUT:
            self.out.counts["screened out"] += 1
        within = nearmiss.margin(self.best)
        if decision.status == "keep":
            self.best = Best(value, (value,), code_lines(text, FILENAME))
            self.best_text, self.best_number = text, number
            self.best_screened = screened
            self.pool.after_keep(value, nearmiss.margin(self.best))
        elif decision.status == "discard" and value is not None:
            self.pool.offer(NearMiss(number, f"c{number}", f"c{self.best_number}", value,
                                     idea.description), self.best.value, within)
        if self.tuner and decision.reason == screening.SCREENED_OUT:
            self.tuner.failed(trial)  # no full-run value: nothing to observe
        elif self.tuner:
            self._teach(number, text, value, decision.status == "keep", trial)
        self.out.costs.append(self.cost)
        self.out.best.append(self.problem.value(self.problem.parse(self.best_text)))

    def _teach(self, number: int, text: str, value, kept: bool, trial) -> None:
        """Every measured tree is an observation; the study holds the best's structure."""
        seen = observe(number, {FILENAME: text}, value)
        if seen is None:
            self.tuner.failed(trial)
            return
        self.memory.add(seen)
        if self.strategy.warm_points is None or seen.structure == self.memory.structure:
            self.tuner.learn(seen, trial)
        else:
            self.tuner.failed(trial)
        if kept and self.memory.on_keep(seen) and self.strategy.warm_points is not None:
            self.tuner.restart(self.memory.study())
