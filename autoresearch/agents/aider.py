"""aider (``aider --message``): plain text; also the route to local models.

aider exits 0 even when the model call failed: output with a well-known error message and
no ``Tokens:`` report (printed for each answered model call) is a failure. Tokens and cost
come from the ``Tokens:``/``Cost:`` report lines.
"""

from __future__ import annotations

import re

from autoresearch.agents import base
from autoresearch.agents.base import AgentRequest, Proposal

name = "aider"
executable = "aider"
install_hint = "python -m pip install aider-install && aider-install"
observe = base.ignore_feedback

QUIET_FLAGS = (  # no commits, no .gitignore edits, no history files, plain non-interactive output
    "--yes-always",
    "--no-auto-commits",
    "--no-gitignore",
    "--no-check-update",
    "--analytics-disable",
    "--no-stream",
    "--no-pretty",
    "--no-fancy-input",
    "--chat-history-file",
    "/dev/null",
    "--input-history-file",
    "/dev/null",
)
_ERROR = re.compile(r"AuthenticationError|litellm\.|API key")
_COUNT = r"([\d.,]+[kKmM]?)"
_TOKENS = re.compile(rf"Tokens: {_COUNT} sent.*?{_COUNT} received\.")
_SESSION_COST = re.compile(r"Cost: \$[\d.,]+ message, \$([\d.,]+) session\.")
_OWN_LINES = re.compile(  # what aider itself prints around the model's reply
    r"(Aider v|Main model:|Model:|Weak model:|Editor model:|Git repo:|Repo-map:|Added |"
    r"Use /help|https://aider\.chat|Warning|Tokens:|Cost:|Applied edit|Can't initialize)"
)
_SCALE = {"k": 1e3, "m": 1e6}


def command_line(request: AgentRequest) -> list[str]:
    settings = request.settings
    argv = [executable]
    if settings.model:
        argv += ["--model", settings.model]  # else aider picks one from the API keys it finds
    argv += [*QUIET_FLAGS, *settings.extra_args]
    return [*argv, "--message", request.prompt, *request.target_files]


def propose(request: AgentRequest) -> Proposal:
    done = base.run_cli(name, command_line(request), request)  # stdin is /dev/null
    reports = _TOKENS.findall(done.stdout)  # one per answered model call
    text = f"{done.stdout}\n{done.stderr}"
    error = next((line for line in text.splitlines() if _ERROR.search(line)), None)
    if error is not None and not reports:
        base.fail(f"aider reported an error: {base.clip(error)}", done)
    if done.exit_code != 0:
        base.fail(f"aider exited with code {done.exit_code}", done)
    costs = _SESSION_COST.findall(done.stdout)
    return base.proposal(
        done,
        description=base.summary_line(_reply(done.stdout)),
        cost_usd=_count(costs[-1]) if costs else None,
        input_tokens=int(sum(_count(sent) for sent, _ in reports)) if reports else None,
        output_tokens=int(sum(_count(got) for _, got in reports)) if reports else None,
    )


def _reply(stdout: str) -> str:
    """The model's text: aider's output without the lines aider prints itself."""
    return "\n".join(line for line in stdout.splitlines() if not _OWN_LINES.match(line.strip()))


def _count(text: str) -> float:
    """aider's number format: ``950``, ``12,450``, ``2.3k``, ``1.2M``."""
    text = text.replace(",", "")
    scale = _SCALE.get(text[-1].lower(), 1.0)
    return float(text.rstrip("kKmM")) * scale
