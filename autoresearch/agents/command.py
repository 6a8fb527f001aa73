"""Any program as the agent: a shell command line from the settings (key ``agent_command``).

With ``{prompt_file}`` in the command the placeholder becomes the quoted path of the prompt
file; otherwise the prompt arrives on stdin. The first line the program prints is taken as
its description of the change; a non-zero exit is a failure.
"""

from __future__ import annotations

import shlex

from autoresearch.agents import base
from autoresearch.agents.base import AgentRequest, Proposal
from autoresearch.errors import ConfigError

name = "command"
executable = None  # the command line names its own program
install_hint = "set agent_command to the command line that edits the target file"
observe = base.ignore_feedback

PLACEHOLDER = "{prompt_file}"


def command_line(request: AgentRequest) -> list[str]:
    command = request.settings.command
    if not command or not command.strip():
        raise ConfigError(
            "agent 'command' needs a command line (key agent_command), e.g. "
            "agent_command: ./propose.sh {prompt_file}"
        )
    path = shlex.quote(str(base.prompt_path(request)))
    return ["/bin/sh", "-c", command.replace(PLACEHOLDER, path)]


def propose(request: AgentRequest) -> Proposal:
    argv = command_line(request)
    on_stdin = PLACEHOLDER not in (request.settings.command or "")
    done = base.run_cli(
        name,
        argv,
        request,
        input_text=request.prompt if on_stdin else None,
        env=_environment(request),
    )
    if done.exit_code != 0:
        base.fail(f"agent command exited with code {done.exit_code}", done)
    return base.proposal(done, description=base.summary_line(done.stdout))


def _environment(request: AgentRequest) -> dict[str, str]:
    """Where the targets and the prompt are (layered over the parent's environment)."""
    return {
        "AUTORESEARCH_TARGET": request.target_files[0] if request.target_files else "",
        "AUTORESEARCH_TARGETS": " ".join(request.target_files),
        "AUTORESEARCH_PROMPT_FILE": str(base.prompt_path(request)),
    }
