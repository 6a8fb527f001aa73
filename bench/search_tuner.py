"""The tuner of bench_search.py: the tune agent's logic on an in-memory Optuna study.

As ``agents.tune`` does: the constants are ``find_params``' (ranges fixed when first
seen), each proposal sets every constant from a TPE sample seeded with the seed plus the
number of trials, a sample that repeats the current values is failed and asked again, and
the literals are written with ``format_value`` and ``edit``. What the study holds comes
from ``search.tuning``: the observations of the other proposers' trees (``trials``) and,
after a structural keep, a restart with the warm points queued.
"""

from __future__ import annotations

import optuna

from autoresearch.agents.tune import MAX_ASKS, edit, format_value
from autoresearch.search.tuning import Observation, distribution, params_of, trials
from search_problem import FILENAME

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Tuner:
    def __init__(self, baseline: str, seed: int):
        self.space = {p.key: p for p in params_of({FILENAME: baseline})}
        self.seed = seed
        self.study = optuna.create_study(direction="minimize")

    def restart(self, observations: list[Observation]) -> None:
        """A new study holding ``observations``."""
        self.study = optuna.create_study(direction="minimize")
        self.study.add_trials(trials(optuna, observations, list(self.space.values())))

    def propose(self, base: str):
        """The tree with every constant resampled, its description and its trial."""
        params = [p for p in params_of({FILENAME: base}) or () if p.key in self.space]
        distributions = {p.key: distribution(optuna, self.space[p.key]) for p in params}
        self.study.sampler = optuna.samplers.TPESampler(seed=self.seed + len(self.study.trials))
        for _ in range(MAX_ASKS):
            trial = self.study.ask(distributions)
            literals = {p.key: format_value(trial.params[p.key], p.is_int) for p in params}
            changed = [p for p in params if float(literals[p.key]) != float(p.value)]
            if changed:
                description = "tune: " + ", ".join(f"{p.key} {p.text} -> {literals[p.key]}"
                                                   for p in changed)
                return edit(base, params, literals), description, trial
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return base, "tune: no new values", None

    def learn(self, observation: Observation, trial) -> None:
        if trial is None:
            self.study.add_trials(trials(optuna, [observation], list(self.space.values())))
        elif observation.value is None:
            self.failed(trial)
        else:
            self.study.tell(trial, observation.value)

    def failed(self, trial) -> None:
        if trial is not None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

