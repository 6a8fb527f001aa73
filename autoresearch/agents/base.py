"""The one interface every agent module satisfies, and the helpers the CLI agents share.

An agent is a module (like pre-commit's languages) with the attributes ``name``,
``install_hint`` and ``executable`` and the functions ``command_line``, ``propose`` and
``observe``. CLI agents run their program through :func:`run_cli` and turn its output into a
:class:`Proposal`, or raise :class:`AgentFailure` with a one-line reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

from autoresearch.children import ChildRegistry
from autoresearch.runner import RunResult, redact, run, tail

DESCRIPTION_CHARS = 120  # longest description kept from an agent's final text
REASON_CHARS = 200  # longest piece of agent text quoted in a failure reason
TAIL_BYTES = 2000  # of stdout and of stderr, kept for the log
PROMPT_FILE = "prompt.md"


@dataclass(frozen=True)
class AgentSettings:
    model: str | None = None
    extra_args: tuple[str, ...] = ()
    timeout_s: float = 900.0
    max_turns: int = 30
    budget_usd: float | None = None  # per call (claude --max-budget-usd)
    command: str | None = None  # the "command" agent's shell command; may contain {prompt_file}
    skip_permissions: bool = False  # only when the user sets it explicitly
    seed: int = 0  # for deterministic agents (tune)


@dataclass(frozen=True)
class AgentRequest:
    prompt: str
    project_dir: Path
    target_files: tuple[str, ...]  # relative paths the agent may edit
    work_dir: Path  # .autoresearch/agent/: stdout, stderr and prompt files
    settings: AgentSettings
    metric_name: str = ""
    direction: str = "lower_is_better"
    on_tick: Callable[[float], None] | None = None
    children: ChildRegistry | None = None  # records the CLI's process for recovery
    # The seal (sandbox.py): where the agent reads its prompt (its scratch: the work_dir is
    # out of its reach), the command line that wraps its program, and the variables that
    # point its CLI at a per-call home.
    prompt_dir: Path | None = None
    wrap: Callable[[list[str]], list[str]] | None = None
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Proposal:
    description: str | None  # the agent's own one-line summary, when it gave one
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    duration_s: float
    output_tail: str  # bounded tail of its output, for the log
    meta: dict = field(default_factory=dict)  # agent-specific (e.g. tune's trial and params)


class AgentFailure(Exception):
    """One agent call failed: non-zero exit, an error report, a timeout or unreadable output."""

    def __init__(self, reason: str, output_tail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.output_tail = output_tail

    def __str__(self) -> str:
        return self.reason


class Agent(Protocol):
    name: str
    install_hint: str  # e.g. "npm install -g @anthropic-ai/claude-code"
    executable: str | None  # e.g. "claude"; None for built-in agents

    def command_line(self, request: AgentRequest) -> list[str]: ...

    def propose(self, request: AgentRequest) -> Proposal: ...

    def observe(self, proposal: Proposal, value: float | None, status: str) -> None: ...


def ignore_feedback(proposal: Proposal, value: float | None, status: str) -> None:
    """``observe`` for agents that learn nothing from the decision (every CLI agent)."""


@dataclass(frozen=True)
class Completed:
    """A finished CLI call: the runner's result and what the program printed."""

    result: RunResult
    stdout: str
    stderr: str
    tail: str

    @property
    def exit_code(self) -> int | None:
        return self.result.exit_code


def prompt_path(request: AgentRequest) -> Path:
    """Where the agent reads its prompt file."""
    return (request.prompt_dir or request.work_dir) / PROMPT_FILE


def run_cli(
    name: str,
    argv: list[str],
    request: AgentRequest,
    *,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run one agent call in the project; raise ``AgentFailure`` when it times out.

    The prompt is written to ``work_dir/prompt.md`` and stdout/stderr go to
    ``work_dir/<name>.stdout`` and ``<name>.stderr``. The agent inherits the parent's
    environment (it needs its API keys), with ``env`` layered over it.
    """
    request.work_dir.mkdir(parents=True, exist_ok=True)
    (request.work_dir / PROMPT_FILE).write_text(request.prompt, encoding="utf-8")  # the record
    if request.prompt_dir is not None:
        prompt_path(request).write_text(request.prompt, encoding="utf-8")
    if request.wrap is not None:
        argv = request.wrap(list(argv))
    env = {**(request.env or {}), **(env or {})}
    stdout_path = request.work_dir / f"{name}.stdout"
    stderr_path = request.work_dir / f"{name}.stderr"
    timeout = request.settings.timeout_s
    result = run(
        argv,
        cwd=request.project_dir,
        timeout=timeout,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        input_text=input_text,
        env=env or None,
        on_tick=request.on_tick,
        children=request.children,
    )
    done = Completed(
        result=result,
        stdout=_read(stdout_path),
        stderr=_read(stderr_path),
        tail=_output_tail(stdout_path, stderr_path),
    )
    if result.timed_out:
        fail(f"{name} timed out after {timeout:g} s", done)
    return done


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _output_tail(stdout_path: Path, stderr_path: Path) -> str:
    parts = []
    for label, path in (("stdout", stdout_path), ("stderr", stderr_path)):
        text = tail(path, TAIL_BYTES).strip()
        if text:
            parts.append(f"[{label}]\n{text}")
    return scrub("\n".join(parts))


def fail(reason: str, done: Completed) -> NoReturn:
    """Raise ``AgentFailure`` with a scrubbed one-line reason and the call's output tail."""
    raise AgentFailure(scrub(" ".join(reason.split())), done.tail)


def proposal(
    done: Completed,
    *,
    description: str | None,
    cost_usd: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Proposal:
    """The ``Proposal`` of a successful CLI call."""
    return Proposal(
        description=scrub(description) if description else None,
        cost_usd=cost_usd,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        duration_s=done.result.duration_s,
        output_tail=done.tail,
    )


def summary_line(text: object) -> str | None:
    """The first non-empty line of an agent's final text, without markdown, clipped."""
    if not isinstance(text, str):
        return None
    for line in text.splitlines():
        line = line.strip().lstrip("#>").strip().strip("*`").strip()
        if line:
            return clip(line, DESCRIPTION_CHARS)
    return None


def clip(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def json_object(text: str) -> dict[str, Any] | None:
    """The JSON object a program printed: the whole text, else its last line that is one."""
    for candidate in (text, *reversed(text.splitlines())):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines stream, skipping lines that are not JSON objects."""
    events = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            events.append(value)
    return events


def number(value: object) -> float | None:
    """A JSON number as a float, None for anything else (including booleans)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def token_sum(counts: list[Mapping[str, Any]], *keys: str) -> int | None:
    """Sum of the given token fields over ``counts``; None when none of them is present."""
    values = [number(c.get(key)) for c in counts for key in keys]
    present = [v for v in values if v is not None]
    return int(sum(present)) if present else None


def scrub(text: str) -> str:
    """``text`` with the value of every secret-looking environment variable redacted."""
    return redact(text)
