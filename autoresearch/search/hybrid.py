"""``agent: X+tune``: the model (X) and the tuner take turns, the tuner ``tune_share`` of them.

Turns follow a seeded low-discrepancy sequence: over any run of turns the tuner gets its
share to within one (0.3 -> 3 of every 10), and the seed only shifts where in the pattern
the loop starts. Outside the sequence (these use no turn):

- the ask after the model's duplicate or no-change proposal is the tuner's: the model has
  run out of new ideas for now, and the tuner never repeats itself, so the loop does not
  end on ``agent_max_failures`` for want of ideas (bench/bench_search.py);
- otherwise a pivot prompt (a plateau, a near-miss branch or combine) is the model's.

When the tuner has nothing to tune (no numeric constants) the model takes every turn.
"""

from __future__ import annotations

import math
import random

from autoresearch.errors import ConfigError

TUNE = "tune"
MODEL = "model"
TUNE_SHARE = 0.3
SUFFIX = "+" + TUNE
LLM_AGENTS = ("claude", "codex", "gemini", "aider", "opencode", "command")
HYBRID_AGENTS = tuple(name + SUFFIX for name in LLM_AGENTS)


def split_agent(name: str) -> tuple[str, bool]:
    """``"claude+tune"`` -> ("claude", True); ``"claude"`` -> ("claude", False)."""
    if name.endswith(SUFFIX):
        llm = name[: -len(SUFFIX)]
        if llm not in LLM_AGENTS:
            raise ConfigError(f"agent: {name!r} is not valid; a hybrid is one of "
                              f"{', '.join(LLM_AGENTS)} followed by {SUFFIX}")
        return llm, True
    return name, False


def check_share(share: float) -> float:
    if not 0 <= share <= 1:
        raise ConfigError(f"tune_share: {share!r} is not valid; use a number from 0 to 1")
    return share


def proposer(turn: int, share: float, seed: int = 0, can_tune: bool = True) -> str:
    """Whose the ``turn``-th turn (0-based) is: TUNE or MODEL."""
    check_share(share)
    if not can_tune:
        return MODEL
    phase = random.Random(seed).random()
    return TUNE if math.floor((turn + 1) * share + phase) > math.floor(turn * share + phase) \
        else MODEL


def next_proposer(turn: int, share: float, seed: int = 0, *, can_tune: bool = True,
                  pivot: bool = False, model_repeated: bool = False) -> tuple[str, int]:
    """Who proposes now, and the turn counter after it (the coordinator keeps the counter;
    it starts at 0). ``model_repeated``: the last ask was the model's, and it gave a
    duplicate or no change."""
    if model_repeated and can_tune:
        return TUNE, turn
    if pivot:
        return MODEL, turn
    return proposer(turn, share, seed, can_tune), turn + 1
