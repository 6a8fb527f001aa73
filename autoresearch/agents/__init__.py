"""The agent registry: a name maps to the module that implements it, imported on first use.

Each module satisfies :class:`autoresearch.agents.base.Agent` at module level.
"""

from __future__ import annotations

import difflib
import importlib
import shutil
from typing import cast

from autoresearch.agents.base import Agent
from autoresearch.errors import ConfigError, EnvironmentProblem

_MODULES = {
    "aider": "autoresearch.agents.aider",
    "claude": "autoresearch.agents.claude",
    "codex": "autoresearch.agents.codex",
    "command": "autoresearch.agents.command",
    "gemini": "autoresearch.agents.gemini",
    "opencode": "autoresearch.agents.opencode",
    "tune": "autoresearch.agents.tune",
}
NAMES = tuple(_MODULES)


def get(name: str) -> Agent:
    """The agent called ``name``; ``ConfigError`` (with a suggestion) for an unknown name."""
    if name not in _MODULES:
        close = difflib.get_close_matches(name, NAMES, n=1)
        hint = f" did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown agent '{name}' (key agent);{hint} accepted: {', '.join(NAMES)}")
    return cast(Agent, importlib.import_module(_MODULES[name]))


def create(name: str) -> Agent:
    """The agent for one loop: the module itself, or an instance when the agent keeps state
    (the tuner remembers its trials in flight)."""
    module = get(name)
    factory = getattr(module, "create", None)
    return cast(Agent, factory()) if factory is not None else module


def create_for(name: str) -> tuple[Agent, Agent | None]:
    """The agent of ``agent: name`` and, for ``X+tune``, the tuner taking turns with it."""
    from autoresearch.search.hybrid import TUNE, split_agent

    llm, is_hybrid = split_agent(name)
    if is_hybrid or llm == TUNE:
        get(TUNE).require_optuna(name)
    return create(llm), (create(TUNE) if is_hybrid else None)


def ensure_available(agent: Agent) -> None:
    """Raise ``EnvironmentProblem``, naming the install command, when the program is missing."""
    if agent.executable and shutil.which(agent.executable) is None:
        raise EnvironmentProblem(
            f"agent '{agent.name}' needs '{agent.executable}' on PATH, which was not found; "
            f"install it with: {agent.install_hint}"
        )
