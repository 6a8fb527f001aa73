"""Claude Code (``claude -p``), the default agent: one JSON result object on stdout."""

from __future__ import annotations

from autoresearch.agents import base
from autoresearch.agents.base import AgentRequest, Proposal

name = "claude"
executable = "claude"
install_hint = "npm install -g @anthropic-ai/claude-code"
observe = base.ignore_feedback

TOOLS = ("Read", "Edit", "Write", "Glob", "Grep")  # no Bash: it could run git
_SUBTYPES = {
    "error_max_turns": "hit the turn limit",
    "error_max_budget_usd": "hit the budget limit",
    "error_during_execution": "failed during execution",
}


def command_line(request: AgentRequest) -> list[str]:
    settings = request.settings
    if settings.skip_permissions:
        permissions = ["--dangerously-skip-permissions"]
    else:
        permissions = ["--permission-mode", "acceptEdits"]
    argv = [executable, "-p", request.prompt, "--output-format", "json", *permissions]
    argv += ["--allowedTools", *TOOLS, "--max-turns", str(settings.max_turns)]
    if settings.budget_usd is not None:
        argv += ["--max-budget-usd", f"{settings.budget_usd:g}"]
    if settings.model:
        argv += ["--model", settings.model]
    return [*argv, *settings.extra_args]


def propose(request: AgentRequest) -> Proposal:
    done = base.run_cli(name, command_line(request), request)
    data = base.json_object(done.stdout)
    if data is None:
        base.fail(f"claude printed no JSON (exit code {done.exit_code})", done)
    if data.get("is_error") or done.exit_code != 0:
        base.fail(_error_reason(data, done.exit_code), done)
    usage = data.get("usage") or {}
    return base.proposal(
        done,
        description=base.summary_line(data.get("result")),
        cost_usd=base.number(data.get("total_cost_usd")),
        input_tokens=base.token_sum(
            [usage], "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"
        ),
        output_tokens=base.token_sum([usage], "output_tokens"),
    )


def _error_reason(data: dict, exit_code: int | None) -> str:
    subtype = str(data.get("subtype") or "")
    result = data.get("result")
    detail = f": {base.clip(result)}" if isinstance(result, str) and result.strip() else ""
    if subtype in _SUBTYPES:
        return f"claude {_SUBTYPES[subtype]} ({subtype}){detail}"
    if data.get("is_error"):
        return f"claude returned is_error{detail}"
    return f"claude exited with code {exit_code}{detail}"
