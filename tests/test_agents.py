"""The agents: exact command lines, and real calls through stand-in CLIs on PATH."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from autoresearch import agents
from autoresearch.agents.base import AgentFailure, AgentRequest, AgentSettings
from autoresearch.errors import ConfigError, EnvironmentProblem

STANDINS = Path(__file__).parent / "standins"
CLI_AGENTS = ("claude", "codex", "gemini", "aider", "opencode")
PROMPT = "Improve val_bpb by editing train.py."
SECRET = "sk-test-SECRET-0123456789"
CLAUDE_TOOLS = ["--allowedTools", "Read", "Edit", "Write", "Glob", "Grep"]
AIDER_FLAGS = [
    "--yes-always", "--no-auto-commits", "--no-gitignore", "--no-check-update",
    "--analytics-disable", "--no-stream", "--no-pretty", "--no-fancy-input",
    "--chat-history-file", "/dev/null", "--input-history-file", "/dev/null",
]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "train.py").write_text("lr = 0.02\nprint('val_bpb: 1.0')\n")
    return directory


@pytest.fixture
def argv_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-ins first on PATH, with a clean STANDIN_* environment."""
    for name in list(os.environ):
        if name.startswith("STANDIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_EDIT", "train.py:lr = 0.02:lr = 0.04")
    log = tmp_path / "argv.json"
    monkeypatch.setenv("STANDIN_ARGV_LOG", str(log))
    return log


def make_request(project: Path, **settings) -> AgentRequest:
    return AgentRequest(
        prompt=PROMPT,
        project_dir=project,
        target_files=("train.py",),
        work_dir=project.parent / "agent work",
        settings=AgentSettings(**settings),
        metric_name="val_bpb",
    )


# --- command lines -------------------------------------------------------------------------


def test_claude_command_line_is_least_privilege_by_default(project):
    argv = agents.get("claude").command_line(make_request(project))
    assert argv == [
        "claude", "-p", PROMPT, "--output-format", "json", "--permission-mode", "acceptEdits",
        *CLAUDE_TOOLS, "--max-turns", "30",
    ]  # fmt: skip
    assert "--dangerously-skip-permissions" not in argv
    assert "Bash" not in argv


def test_claude_command_line_with_every_setting(project):
    request = make_request(
        project,
        model="sonnet",
        max_turns=12,
        budget_usd=2.5,
        skip_permissions=True,
        extra_args=("--append-system-prompt", "be brief"),
    )
    assert agents.get("claude").command_line(request) == [
        "claude", "-p", PROMPT, "--output-format", "json", "--dangerously-skip-permissions",
        *CLAUDE_TOOLS, "--max-turns", "12", "--max-budget-usd", "2.5", "--model", "sonnet",
        "--append-system-prompt", "be brief",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name, settings, expected",
    [
        ("codex", {}, ["codex", "exec", "--json", "-s", "workspace-write",
                       "--skip-git-repo-check", "--ephemeral", PROMPT]),
        ("codex", {"model": "gpt-5"}, ["codex", "exec", "--json", "-s", "workspace-write",
                                       "--skip-git-repo-check", "--ephemeral", "-m", "gpt-5",
                                       PROMPT]),
        ("gemini", {}, ["gemini", "-p", PROMPT, "-o", "json", "--approval-mode", "auto_edit",
                        "--skip-trust"]),
        ("gemini", {"model": "gemini-2.5-pro"}, ["gemini", "-p", PROMPT, "-o", "json",
                                                 "--approval-mode", "auto_edit", "--skip-trust",
                                                 "-m", "gemini-2.5-pro"]),
        ("aider", {}, ["aider", *AIDER_FLAGS, "--message", PROMPT, "train.py"]),
        ("aider", {"model": "ollama_chat/qwen3", "extra_args": ("--openai-api-base", "http://x")},
         ["aider", "--model", "ollama_chat/qwen3", *AIDER_FLAGS, "--openai-api-base", "http://x",
          "--message", PROMPT, "train.py"]),
        ("opencode", {}, ["opencode", "run", "--format", "json", PROMPT]),
        ("opencode", {"model": "anthropic/claude-sonnet-4"},
         ["opencode", "run", "--format", "json", "-m", "anthropic/claude-sonnet-4", PROMPT]),
    ],
)  # fmt: skip
def test_command_lines(project, name, settings, expected):
    assert agents.get(name).command_line(make_request(project, **settings)) == expected


def test_command_agent_quotes_the_prompt_file(project):
    request = make_request(project, command="./propose.sh --in {prompt_file}")
    path = request.work_dir / "prompt.md"
    argv = agents.get("command").command_line(request)
    assert argv == ["/bin/sh", "-c", f"./propose.sh --in '{path}'"]


def test_command_agent_without_a_command_is_a_config_error(project):
    with pytest.raises(ConfigError, match="agent_command"):
        agents.get("command").command_line(make_request(project))


# --- calls through the stand-ins -----------------------------------------------------------

EXPECTED_USAGE = {  # cost, input tokens, output tokens as each stand-in reports them
    "claude": (0.0123, 1300, 50),
    "codex": (None, 1200, 300),
    "gemini": (None, 1000, 130),
    "aider": (0.0194, 14750, 200),
    "opencode": (0.005, 1450, 110),
}


@pytest.mark.parametrize("name", CLI_AGENTS)
def test_propose_edits_and_reports(project, argv_log, name):
    agent = agents.get(name)
    request = make_request(project, model="some-model")
    proposal = agent.propose(request)
    assert json.loads(argv_log.read_text()) == agent.command_line(request)[1:]
    assert (project / "train.py").read_text().startswith("lr = 0.04\n")
    assert sorted(p.name for p in project.iterdir()) == ["train.py"]  # no stray files
    assert proposal.description == "Raise the learning rate to 0.04"
    cost, input_tokens, output_tokens = EXPECTED_USAGE[name]
    assert proposal.cost_usd == pytest.approx(cost)
    assert (proposal.input_tokens, proposal.output_tokens) == (input_tokens, output_tokens)
    assert proposal.duration_s > 0
    assert (request.work_dir / "prompt.md").read_text() == PROMPT
    assert agent.observe(proposal, 0.99, "keep") is None


@pytest.mark.parametrize(
    "name, mode, reason",
    [
        ("claude", "is_error", "claude returned is_error: API Error: 401 invalid x-api-key"),
        ("claude", "max_turns", "claude hit the turn limit (error_max_turns)"),
        ("claude", "exit1", "claude printed no JSON (exit code 1)"),
        ("claude", "garbage", "claude printed no JSON (exit code 0)"),
        ("codex", "is_error", "codex reported an error: unexpected status 401 Unauthorized"),
        ("codex", "exit1", "codex exited with code 1"),
        ("codex", "garbage", "codex finished without completing a turn"),
        ("gemini", "is_error", "gemini exited with code 41 (authentication failed): GEMINI_"),
        ("gemini", "max_turns", "gemini exited with code 53 (turn limit reached): Reached max"),
        ("gemini", "exit1", "gemini exited with code 1 (error)"),
        ("gemini", "garbage", "gemini printed no JSON"),
        ("aider", "is_error", "aider reported an error: litellm.AuthenticationError"),
        ("aider", "exit1", "aider exited with code 1"),
        ("opencode", "is_error", "opencode reported an error: Invalid API key"),
        ("opencode", "exit1", "opencode exited with code 1"),
        ("opencode", "garbage", "opencode printed no JSON events"),
    ],
)  # fmt: skip
def test_failures_name_the_reason(project, argv_log, monkeypatch, name, mode, reason):
    monkeypatch.setenv("STANDIN_MODE", mode)
    with pytest.raises(AgentFailure) as failure:
        agents.get(name).propose(make_request(project))
    assert failure.value.reason.startswith(reason)
    assert "\n" not in failure.value.reason
    assert failure.value.output_tail  # the log shows what the agent printed


@pytest.mark.parametrize("name", CLI_AGENTS)
def test_a_hanging_agent_times_out(project, argv_log, monkeypatch, name):
    monkeypatch.setenv("STANDIN_MODE", "hang")
    with pytest.raises(AgentFailure, match=rf"^{name} timed out after 0.5 s$"):
        agents.get(name).propose(make_request(project, timeout_s=0.5))


def test_aider_output_without_a_report_still_succeeds(project, argv_log, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "garbage")
    proposal = agents.get("aider").propose(make_request(project))
    assert (proposal.cost_usd, proposal.input_tokens, proposal.output_tokens) == (None,) * 3


def test_aider_reply_mentioning_an_api_key_is_no_error(project, argv_log, monkeypatch):
    monkeypatch.setenv("STANDIN_SAY", "Read the API key once, outside the loop")
    proposal = agents.get("aider").propose(make_request(project))
    assert proposal.description == "Read the API key once, outside the loop"


def test_long_description_is_trimmed_to_one_line(project, argv_log, monkeypatch):
    monkeypatch.setenv("STANDIN_SAY", "**" + "word " * 60 + "**\nsecond line")
    proposal = agents.get("claude").propose(make_request(project))
    assert len(proposal.description) <= 120
    assert proposal.description.startswith("word word")
    assert proposal.description.endswith("…")


@pytest.mark.parametrize("name", CLI_AGENTS)
def test_secrets_in_the_environment_never_reach_the_outputs(project, argv_log, monkeypatch, name):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("STANDIN_SAY", f"Used the key {SECRET} to raise lr")
    request = make_request(project)
    proposal = agents.get(name).propose(request)
    assert SECRET not in (request.work_dir / "prompt.md").read_text()
    assert SECRET not in repr(proposal)
    assert proposal.description == "Used the key [redacted] to raise lr"
    monkeypatch.setenv("STANDIN_MODE", "is_error")
    with pytest.raises(AgentFailure) as failure:
        agents.get(name).propose(request)
    assert SECRET not in failure.value.reason + failure.value.output_tail


# --- the command agent ---------------------------------------------------------------------

SCRIPT = """\
import os, sys
from pathlib import Path
source = sys.argv[1] if len(sys.argv) > 1 else None
prompt = Path(source).read_text() if source else sys.stdin.read()
target = Path(os.environ["AUTORESEARCH_TARGET"])
target.write_text(target.read_text() + "# " + prompt.splitlines()[0] + "\\n")
print("append a comment")
print("targets:", os.environ["AUTORESEARCH_TARGETS"])
print("prompt file:", os.environ["AUTORESEARCH_PROMPT_FILE"])
sys.exit(int(os.environ.get("SCRIPT_EXIT", "0")))
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "propose.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("placeholder", ["", " {prompt_file}"])
def test_command_agent_gets_the_prompt(project, script, placeholder):
    request = make_request(project, command=f"{sys.executable} {script}{placeholder}")
    proposal = agents.get("command").propose(request)
    assert (project / "train.py").read_text().endswith(f"# {PROMPT}\n")
    assert proposal.description == "append a comment"
    assert "targets: train.py" in proposal.output_tail
    assert f"prompt file: {request.work_dir / 'prompt.md'}" in proposal.output_tail
    assert (proposal.cost_usd, proposal.input_tokens) == (None, None)


def test_command_agent_failure(project, script, monkeypatch):
    monkeypatch.setenv("SCRIPT_EXIT", "3")
    request = make_request(project, command=f"{sys.executable} {script}")
    with pytest.raises(AgentFailure, match=r"^agent command exited with code 3$"):
        agents.get("command").propose(request)


# --- the registry --------------------------------------------------------------------------


def test_names_include_every_agent():
    assert agents.NAMES == ("aider", "claude", "codex", "command", "gemini", "opencode", "tune")


@pytest.mark.parametrize("name", agents.NAMES)
def test_each_agent_satisfies_the_interface(name):
    agent = agents.get(name)
    assert agent.name == name
    assert agent.install_hint
    assert all(callable(f) for f in (agent.command_line, agent.propose, agent.observe))


def test_unknown_agent_suggests_the_closest_name():
    with pytest.raises(ConfigError) as error:
        agents.get("cluade")
    assert str(error.value) == (
        "unknown agent 'cluade' (key agent); did you mean 'claude'? "
        "accepted: aider, claude, codex, command, gemini, opencode, tune"
    )
    assert error.value.exit_code == 2


def test_unknown_agent_without_a_close_name():
    with pytest.raises(ConfigError, match=r"^unknown agent 'zzz' \(key agent\); accepted: aider"):
        agents.get("zzz")


def test_missing_executable_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem) as error:
        agents.ensure_available(agents.get("codex"))
    assert "'codex'" in str(error.value)
    assert str(error.value).endswith("install it with: npm install -g @openai/codex")
    assert error.value.exit_code == 3


def test_available_executables_pass(argv_log):
    for name in (*CLI_AGENTS, "command"):
        agents.ensure_available(agents.get(name))
