"""What the tuner learns from every measured tree, and what the model is told about it.

Every measured experiment, whoever proposed it, is an **observation**: the values of the
target's tunable constants in that tree (``agents.tune.find_params``) and the metric (None
for a crash). Observations are grouped by **structure**: the fingerprint of the code with
those constants' literals masked, so a tree that differs from another only in constants has
the same structure. The tuner's study holds the observations of the best's structure.

After a keep that changes the structure (a structural keep), the study restarts warm: the
new study holds the ``WARM_POINTS`` best observations of the old one (their values as
measured then) and the observations of the new structure (at least the keep itself).

The model's prompt gets ``notes`` (``sections.tuner`` words them): the best-known
settings of the current structure and what is ruled out, a tail of a constant's values
(``LR >= 0.08``) where every observation, at least ``RULED_OUT_MIN`` of them, was worse
than the best by more than the margin, or crashed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from autoresearch.agents.base import AgentFailure
from autoresearch.agents.tune import Param, edit, format_value
from autoresearch.agents.tune import params_of as tune_params
from autoresearch.decide import improvement
from autoresearch.search.normalise import fingerprint

WARM_POINTS = 30  # best observations a restarted study starts from
RULED_OUT_MIN = 2
_MASK = "0"  # what a constant's literal becomes in the structure fingerprint


@dataclass(frozen=True)
class Observation:
    number: int
    structure: str
    params: Mapping[str, float]
    value: float | None  # None: a crash


def params_of(texts: Mapping[str, str]) -> list[Param] | None:
    """The tunable constants of the target files (keys as the tune agent names them), or
    None when a file cannot be parsed."""
    try:
        return tune_params(dict(sorted(texts.items())))
    except AgentFailure:
        return None


def structure(texts: Mapping[str, str], params: Sequence[Param]) -> str:
    """The fingerprint of ``texts`` with every tunable literal masked."""
    masked = {}
    for name, text in texts.items():
        own = [p for p in params if p.file == name]
        masked[name] = edit(text, own, {p.key: _MASK for p in own})
    return fingerprint(masked)


def observe(number: int, texts: Mapping[str, str], value: float | None) -> Observation | None:
    """The observation of one measured tree, or None when its constants cannot be read."""
    params = params_of(texts)
    if params is None:
        return None
    if value is not None and not math.isfinite(value):
        value = None
    return Observation(number, structure(texts, params), {p.key: float(p.value) for p in params},
                       value)


@dataclass
class TunerMemory:
    """Every observation, and what the study holds; the coordinator adds each measured
    experiment (``add``) and tells it each keep (``on_keep``)."""

    direction: str = "lower_is_better"
    warm_points: int = WARM_POINTS
    observations: list[Observation] = field(default_factory=list)
    structure: str | None = None  # the best's: the active study's
    carried: list[Observation] = field(default_factory=list)  # best of the studies before

    def add(self, observation: Observation) -> None:
        self.observations.append(observation)

    def study(self) -> list[Observation]:
        """The observations the tuner's study holds now."""
        return self.carried + [o for o in self.observations if o.structure == self.structure]

    def on_keep(self, kept: Observation) -> bool:
        """Follow the best; True when the keep changed the structure: restart the study."""
        if kept.structure == self.structure:
            return False
        if self.structure is not None:
            self.carried = ranked(self.study(), self.direction)[: self.warm_points]
        self.structure = kept.structure
        return True


def ranked(observations: Sequence[Observation], direction: str) -> list[Observation]:
    """The measured observations, best first."""
    measured = [o for o in observations if o.value is not None]
    sign = 1 if direction == "lower_is_better" else -1
    return sorted(measured, key=lambda o: (sign * o.value, o.number))


@dataclass(frozen=True)
class TunerNotes:
    best: Mapping[str, float]  # the best-known settings of the current structure
    best_value: float
    ruled_out: tuple[str, ...]  # "LR >= 0.08 (3 trials, all worse by more than 0.01)"


def notes(observations: Sequence[Observation], direction: str, within: float,
          ints: frozenset[str] = frozenset()) -> TunerNotes | None:
    """What the model is told about the constants; None before the first measured one."""
    best = next(iter(ranked(observations, direction)), None)
    if best is None:
        return None
    ruled = []
    for key in sorted(best.params):
        ruled += _ruled_out_tails(observations, best, key, direction, within)
    shown = {k: float(format_value(v, k in ints)) for k, v in best.params.items()}
    return TunerNotes(shown, best.value, tuple(ruled))


def _ruled_out_tails(observations: Sequence[Observation], best: Observation, key: str,
                     direction: str, within: float) -> list[str]:
    def worse(o: Observation) -> bool:
        return o.value is None or improvement(o.value, best.value, direction) < -within

    points = sorted((o for o in observations if key in o.params), key=lambda o: o.params[key])
    tails = []
    for side, ordered in (("<=", points), (">=", points[::-1])):
        tail = []
        for o in ordered:
            if not worse(o) or o.params[key] == best.params[key]:
                break
            tail.append(o)
        if len(tail) >= RULED_OUT_MIN:
            edge = tail[-1].params[key]
            tails.append(f"{key} {side} {edge:.4g} ({len(tail)} trials, all worse by more "
                         f"than {within:.4g} or crashed)")
    return tails


def trials(optuna, observations: Sequence[Observation], params: Sequence[Param]) -> list:
    """The observations as finished Optuna trials over ``params``' ranges (for
    ``study.add_trials``); a value outside a range is left out of that trial."""
    spaces = {p.key: distribution(optuna, p) for p in params}
    ints = {p.key for p in params if p.is_int}
    done = []
    for o in observations:
        chosen = {k: v for k, v in o.params.items()
                  if k in spaces and spaces[k].low <= v <= spaces[k].high}
        state = optuna.trial.TrialState.COMPLETE if o.value is not None \
            else optuna.trial.TrialState.FAIL
        done.append(optuna.trial.create_trial(
            params={k: int(v) if k in ints else v for k, v in chosen.items()},
            distributions={k: spaces[k] for k in chosen}, value=o.value, state=state))
    return done


def distribution(optuna, param: Param):
    if param.is_int:
        return optuna.distributions.IntDistribution(int(param.low), int(param.high),
                                                    log=param.log)
    return optuna.distributions.FloatDistribution(param.low, param.high, log=param.log)
