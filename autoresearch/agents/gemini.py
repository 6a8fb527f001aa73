"""Gemini CLI (``gemini -p -o json``): one JSON object, on stderr when it fails."""

from __future__ import annotations

from autoresearch.agents import base
from autoresearch.agents.base import AgentRequest, Proposal

name = "gemini"
executable = "gemini"
install_hint = "npm install -g @google/gemini-cli"
observe = base.ignore_feedback

EXIT_CODES = {  # gemini-cli's documented exit codes
    41: "authentication failed",
    42: "invalid input",
    44: "sandbox error",
    52: "configuration error",
    53: "turn limit reached",
    54: "tool execution failed",
    55: "untrusted workspace",
    130: "cancelled",
}


def command_line(request: AgentRequest) -> list[str]:
    settings = request.settings
    argv = [executable, "-p", request.prompt, "-o", "json", "--approval-mode", "auto_edit"]
    argv.append("--skip-trust")
    if settings.model:
        argv += ["-m", settings.model]
    return [*argv, *settings.extra_args]


def propose(request: AgentRequest) -> Proposal:
    done = base.run_cli(name, command_line(request), request)
    if done.exit_code != 0:
        base.fail(_exit_reason(done), done)
    data = base.json_object(done.stdout)
    if data is None:
        base.fail("gemini printed no JSON", done)
    if data.get("error"):
        base.fail(f"gemini reported an error: {_error_message(data)}", done)
    tokens = [m.get("tokens") or {} for m in _models(data)]
    return base.proposal(
        done,
        description=base.summary_line(data.get("response")),
        input_tokens=base.token_sum(tokens, "input"),
        output_tokens=base.token_sum(tokens, "candidates"),
    )


def _exit_reason(done: base.Completed) -> str:
    meaning = EXIT_CODES.get(done.exit_code or 0, "error")
    data = base.json_object(done.stderr) or base.json_object(done.stdout) or {}
    detail = f": {_error_message(data)}" if data.get("error") else ""
    return f"gemini exited with code {done.exit_code} ({meaning}){detail}"


def _error_message(data: dict) -> str:
    error = data["error"]
    return base.clip(str(error.get("message") if isinstance(error, dict) else error))


def _models(data: dict) -> list[dict]:
    models = (data.get("stats") or {}).get("models") or {}
    return [m for m in models.values() if isinstance(m, dict)]
