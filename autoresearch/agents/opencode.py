"""opencode (``opencode run --format json``): JSON-lines events; tokens and cost per step."""

from __future__ import annotations

from autoresearch.agents import base
from autoresearch.agents.base import AgentRequest, Proposal

name = "opencode"
executable = "opencode"
install_hint = "npm install -g opencode-ai"
observe = base.ignore_feedback


def command_line(request: AgentRequest) -> list[str]:
    settings = request.settings
    argv = [executable, "run", "--format", "json"]
    if settings.model:
        argv += ["-m", settings.model]  # provider/model
    return [*argv, *settings.extra_args, request.prompt]


def propose(request: AgentRequest) -> Proposal:
    done = base.run_cli(name, command_line(request), request)  # stdin is /dev/null
    events = base.json_lines(done.stdout)
    errors = [e for e in events if e.get("type") == "error"]
    if errors:
        base.fail(f"opencode reported an error: {_error_text(errors[-1])}", done)
    if done.exit_code != 0:
        base.fail(f"opencode exited with code {done.exit_code}", done)
    if not events:
        base.fail("opencode printed no JSON events", done)
    steps = [_part(e) for e in events if e.get("type") == "step_finish"]
    tokens = [s.get("tokens") or {} for s in steps]
    inputs = [{"input": t.get("input"), **(t.get("cache") or {})} for t in tokens]
    texts = [_part(e).get("text") for e in events if e.get("type") == "text"]
    costs = [c for c in (base.number(s.get("cost")) for s in steps) if c is not None]
    return base.proposal(
        done,
        description=base.summary_line(texts[-1] if texts else None),
        cost_usd=sum(costs) if costs else None,
        input_tokens=base.token_sum(inputs, "input", "read", "write"),
        output_tokens=base.token_sum(tokens, "output", "reasoning"),
    )


def _part(event: dict) -> dict:
    part = event.get("part")
    return part if isinstance(part, dict) else {}


def _error_text(event: dict) -> str:
    """opencode's error event: {error: {name, data: {message}}} (or a plain message)."""
    error = event.get("error")
    if isinstance(error, dict):
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        message = data.get("message") or error.get("message") or error.get("name")
    else:
        message = error or event.get("message")
    return base.clip(str(message or "no message"))
