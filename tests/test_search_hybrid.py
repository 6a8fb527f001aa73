"""Tests for autoresearch.search.hybrid and .tuning: the model and the tuner together."""

from __future__ import annotations

import pytest

from autoresearch.errors import ConfigError
from autoresearch.search.hybrid import (MODEL, TUNE, check_share, next_proposer, proposer,
                                        split_agent)
from autoresearch.search.sections import tuner
from autoresearch.search.tuning import TunerMemory, notes, observe, params_of, trials

TRAIN = """\
LR = 0.04
DEPTH = 4


def model(x):
    x = norm(x)
    return head(x)
"""


def tree(lr: float = 0.04, depth: int = 4, structural: bool = False) -> dict[str, str]:
    text = TRAIN.replace("0.04", f"{lr:g}").replace("DEPTH = 4", f"DEPTH = {depth}")
    if structural:
        text = text.replace("    return", "    x = gate(x)\n    return")
    return {"train.py": text}


def test_the_tuner_gets_its_share_of_turns_in_every_window():
    turns = [proposer(turn, 0.3, seed=5) for turn in range(100)]
    assert turns.count(TUNE) == 30
    for start in range(0, 90):
        assert turns[start:start + 10].count(TUNE) == 3
    assert set(turns[:4]) == {MODEL, TUNE}  # it alternates from the start


def test_the_seed_shifts_where_the_pattern_starts():
    patterns = {tuple(proposer(turn, 0.3, seed) for turn in range(10)) for seed in range(20)}
    assert len(patterns) > 1
    assert all(pattern.count(TUNE) == 3 for pattern in patterns)


def test_the_extreme_shares_and_a_tuner_with_nothing_to_tune():
    assert {proposer(turn, 0.0) for turn in range(50)} == {MODEL}
    assert {proposer(turn, 1.0) for turn in range(50)} == {TUNE}
    assert {proposer(turn, 0.5, can_tune=False) for turn in range(50)} == {MODEL}


def test_hybrid_agent_names():
    assert split_agent("claude+tune") == ("claude", True)
    assert split_agent("codex") == ("codex", False)
    with pytest.raises(ConfigError) as error:
        split_agent("tune+tune")
    assert "a hybrid is one of claude, codex" in error.value.message
    with pytest.raises(ConfigError):
        check_share(1.5)


def test_an_observation_is_the_constants_of_a_measured_tree():
    seen = observe(3, tree(lr=0.05, depth=6), 0.97)
    assert (seen.number, dict(seen.params), seen.value) == (3, {"LR": 0.05, "DEPTH": 6.0}, 0.97)
    assert observe(4, tree(), float("nan")).value is None
    assert observe(5, {"train.py": "LR = (\n"}, None) is None
    assert [p.key for p in params_of({"a.py": "LR = 1.0\n", "b.py": "LR = 2.0\n"})] == [
        "a.py:LR", "b.py:LR"]


def test_only_a_structural_change_changes_the_structure():
    base = observe(1, tree(), 1.0).structure
    assert observe(2, tree(lr=0.08, depth=2), 1.1).structure == base
    assert observe(3, tree(structural=True), 0.9).structure != base


def test_both_proposers_feed_one_study_and_a_structural_keep_restarts_it_warm():
    memory = TunerMemory(warm_points=2)
    baseline = observe(0, tree(), 1.00)
    memory.add(baseline)
    assert memory.on_keep(baseline)  # the first keep sets the study's structure
    by_model = observe(1, tree(lr=0.02), 0.99)  # the model changed a constant
    by_tuner = observe(2, tree(lr=0.03, depth=8), 0.98)
    structural = observe(3, tree(structural=True), 0.95)
    for seen in (by_model, by_tuner, structural):
        memory.add(seen)
    assert [o.number for o in memory.study()] == [0, 1, 2]  # the best's structure only
    assert not memory.on_keep(by_tuner)  # same structure: the study goes on
    assert memory.on_keep(structural)  # a structural keep: restart
    assert [o.number for o in memory.study()] == [2, 1, 3]  # the 2 best carried, then new


def test_the_model_is_told_the_best_settings_and_what_is_ruled_out():
    observations = [observe(n, tree(lr=lr), value) for n, (lr, value) in enumerate(
        [(0.04, 0.993), (0.02, 0.99), (0.08, 1.05), (0.16, None), (0.01, 1.002)])]
    told = notes(observations, "lower_is_better", within=0.005, ints=frozenset({"DEPTH"}))
    assert dict(told.best) == {"LR": 0.02, "DEPTH": 4.0}
    assert told.best_value == 0.99
    assert told.ruled_out == (
        "LR >= 0.08 (2 trials, all worse by more than 0.005 or crashed)",)
    text = tuner(told, ["LR", "DEPTH"])
    assert "A tuner searches LR, DEPTH: leave them as they are" in text
    assert "Best-known settings (0.99): LR = 0.02, DEPTH = 4." in text
    assert "- LR >= 0.08 (2 trials" in text
    assert notes([observe(0, tree(), None)], "lower_is_better", 0.005) is None


def test_observations_become_optuna_trials_that_a_sampler_can_use():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = params_of(tree())
    observations = [observe(n, tree(lr=lr, depth=d), v) for n, (lr, d, v) in enumerate(
        [(0.04, 4, 1.0), (0.02, 2, 0.98), (9.0, 8, 1.2), (0.01, 1, None)])]
    made = trials(optuna, observations, params)
    assert [t.state.name for t in made] == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]
    assert made[2].params == {"DEPTH": 8}  # LR 9.0 is outside LR's range [0.004, 0.4]
    assert made[1].params == {"LR": 0.02, "DEPTH": 2}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials(made)
    assert study.best_trial.params == {"LR": 0.02, "DEPTH": 2}


def test_a_pivot_is_the_models_and_the_tuner_answers_a_model_that_repeats_itself():
    assert next_proposer(4, 0.3, seed=1, pivot=True) == (MODEL, 4)
    assert next_proposer(4, 0.3, seed=1, model_repeated=True) == (TUNE, 4)
    assert next_proposer(4, 0.3, seed=1, pivot=True, model_repeated=True) == (TUNE, 4)
    assert next_proposer(4, 0.3, seed=1, model_repeated=True, can_tune=False) == (MODEL, 5)
    assert next_proposer(4, 0.3, seed=1) == (proposer(4, 0.3, seed=1), 5)
