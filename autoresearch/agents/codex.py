"""OpenAI Codex CLI (``codex exec --json``): JSON-lines events on stdout, no cost."""

from __future__ import annotations

from autoresearch.agents import base
from autoresearch.agents.base import AgentRequest, Proposal

name = "codex"
executable = "codex"
install_hint = "npm install -g @openai/codex"
observe = base.ignore_feedback

_OUTCOMES = ("turn.completed", "turn.failed", "error")


def command_line(request: AgentRequest) -> list[str]:
    settings = request.settings
    argv = [executable, "exec", "--json", "-s", "workspace-write", "--skip-git-repo-check"]
    argv.append("--ephemeral")
    if settings.model:
        argv += ["-m", settings.model]
    return [*argv, *settings.extra_args, request.prompt]


def propose(request: AgentRequest) -> Proposal:
    done = base.run_cli(name, command_line(request), request)  # stdin is /dev/null
    events = base.json_lines(done.stdout)
    outcomes = [e for e in events if e.get("type") in _OUTCOMES]  # the last one decides
    if outcomes and outcomes[-1].get("type") != "turn.completed":
        base.fail(f"codex reported an error: {_error_text(outcomes[-1])}", done)
    if done.exit_code != 0:
        base.fail(f"codex exited with code {done.exit_code}", done)
    if not outcomes:
        base.fail("codex finished without completing a turn", done)
    usages = [e.get("usage") or {} for e in events if e.get("type") == "turn.completed"]
    return base.proposal(
        done,
        description=base.summary_line(_last_message(events)),
        input_tokens=base.token_sum(usages, "input_tokens"),
        output_tokens=base.token_sum(usages, "output_tokens"),
    )


def _last_message(events: list[dict]) -> str | None:
    """The text of the last completed agent_message item."""
    texts = [
        e["item"].get("text")
        for e in events
        if e.get("type") == "item.completed"
        and isinstance(e.get("item"), dict)
        and e["item"].get("type") == "agent_message"
    ]
    return texts[-1] if texts else None


def _error_text(event: dict) -> str:
    """The message of a ``turn.failed`` {error: {message}} or ``error`` {message} event."""
    error = event.get("error")
    message = error.get("message") if isinstance(error, dict) else event.get("message")
    return base.clip(str(message or "no message"))
