"""The loop with each real agent CLI, played by the stand-ins in tests/standins, and the tuner.

Each stand-in parses the real program's arguments (an unknown or missing flag fails it),
logs its argv, edits the target as told (STANDIN_EDIT) and prints the real output format.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import helpers
import pytest
from helpers import at, experiments, git, make_project, records, state_dir

STANDINS = Path(__file__).resolve().parent / "standins"
SAY = "Scale the value by 0.9\n\nMultiplying the constant lowers the metric."
PROMPT = object()  # stands for the prompt in an expected argv

ARGV = {
    "claude": ["-p", PROMPT, "--output-format", "json", "--permission-mode", "acceptEdits",
               "--allowedTools", "Read", "Edit", "Write", "Glob", "Grep", "--max-turns", "30"],
    "codex": ["exec", "--json", "-s", "workspace-write", "--skip-git-repo-check", "--ephemeral",
              PROMPT],
    "gemini": ["-p", PROMPT, "-o", "json", "--approval-mode", "auto_edit", "--skip-trust"],
    "aider": ["--yes-always", "--no-auto-commits", "--no-gitignore", "--no-check-update",
              "--analytics-disable", "--no-stream", "--no-pretty", "--no-fancy-input",
              "--chat-history-file", "/dev/null", "--input-history-file", "/dev/null",
              "--message", PROMPT, "train.py"],
    "opencode": ["run", "--format", "json", PROMPT],
}
WITH_MODEL = {  # the same with --agent-model M: where the model flag goes
    "claude": ARGV["claude"] + ["--model", "M"],
    "codex": ARGV["codex"][:-1] + ["-m", "M", PROMPT],
    "gemini": ARGV["gemini"] + ["-m", "M"],
    "aider": ["--model", "M"] + ARGV["aider"],
    "opencode": ["run", "--format", "json", "-m", "M", PROMPT],
}
USAGE = {  # what each stand-in reports for one call: (cost, input tokens, output tokens)
    "claude": (0.0123, 1300, 50),
    "codex": (None, 1200, 300),
    "gemini": (None, 1000, 130),
    "aider": (0.0194, 14750, 200),
    "opencode": (0.005, 1450, 110),
}


def cli(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The CLI in the sandbox, with the stand-ins first on PATH and ``env`` added."""
    return helpers.cli(project, *args, extra={
        "PATH": f"{STANDINS}{os.pathsep}{os.environ.get('PATH', '')}", **env})


TRAIN = "VALUE = 1.0\nprint(f'val_bpb: {VALUE:.6f}')\n"
SCALE = "train.py:VALUE = :VALUE = 0.9 * "  # applies again to its own result


def standin_env(tmp: Path) -> dict[str, str]:
    return {"STANDIN_ARGV_LOG": str(tmp / "argv.json"), "STANDIN_EDIT": SCALE,
            "STANDIN_SAY": SAY}


def expected_argv(template: list, prompt: str) -> list[str]:
    return [prompt if part is PROMPT else part for part in template]


# -- each CLI agent in the loop -------------------------------------------------------------


@pytest.mark.parametrize("agent", list(ARGV))
def test_the_loop_drives_each_agent_cli(tmp_path: Path, agent: str):
    project = make_project(tmp_path, TRAIN)
    done = cli(project, "loop", "--agent", agent, "--tag", agent, "--iterations", "2",
               **standin_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr

    argv = json.loads((tmp_path / "argv.json").read_text())
    prompt = (state_dir(project) / "agent/w1/prompt.md").read_text()
    assert argv == expected_argv(ARGV[agent], prompt)
    assert "train.py" in prompt and "val_bpb" in prompt
    assert "--dangerously-skip-permissions" not in argv

    baseline, first, second = experiments(project)
    assert [(d["status"], d["value"]) for d in (first, second)] == [("keep", 0.9),
                                                                      ("keep", 0.81)]
    cost, tokens_in, tokens_out = USAGE[agent]
    for details in (first, second):
        assert details["description"] == "Scale the value by 0.9"
        assert details["agent_cost_usd"] == cost
        assert (details["input_tokens"], details["output_tokens"]) == (tokens_in, tokens_out)
    branch = f"autoresearch/{agent}"
    assert git(project, "log", "-1", "--format=%s", branch) == "experiment: Scale the value by 0.9"
    assert git(project, "status", "--porcelain") == ""
    assert at(project, branch) == TRAIN.replace("VALUE = ", "VALUE = 0.9 * 0.9 * ")
    assert (project / "train.py").read_text() == TRAIN  # the user's tree: untouched


@pytest.mark.parametrize("agent", list(WITH_MODEL))
def test_the_model_option_reaches_each_agent_cli(tmp_path: Path, agent: str):
    project = make_project(tmp_path, TRAIN)
    done = cli(project, "loop", "--agent", agent, "--agent-model", "M", "--tag", "m",
               "--iterations", "1", **standin_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    argv = json.loads((tmp_path / "argv.json").read_text())
    prompt = (state_dir(project) / "agent/w1/prompt.md").read_text()
    assert argv == expected_argv(WITH_MODEL[agent], prompt)


def test_claude_is_error_is_logged_and_the_loop_goes_on(tmp_path: Path):
    project = make_project(tmp_path, TRAIN)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"mode": "is_error"}, {"mode": "ok"}]))
    baseline = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--agent", "claude", "--tag", "err", "--iterations", "1",
               STANDIN_SCRIPT=str(script), STANDIN_EDIT=SCALE)
    assert done.returncode == 0, done.stderr
    reason = "claude returned is_error: API Error: 401 invalid x-api-key"
    assert done.stderr == f"autoresearch: warning: agent claude failed (1/5 in a row): {reason}\n"
    failed = [r for r in records(project) if r["action"] == "agent_failed"]
    assert len(failed) == 1
    assert (failed[0]["status"], failed[0]["details"]["error"]) == ("fail", reason)
    assert '"is_error": true' in failed[0]["details"]["output_tail"]
    assert [(d["status"], d["description"]) for d in experiments(project)] == [
        ("keep", "baseline"), ("keep", "Raise the learning rate to 0.04")]
    assert git(project, "rev-parse", "autoresearch/err~1") == baseline
    assert git(project, "status", "--porcelain") == ""


def test_claude_errors_in_a_row_stop_the_loop_with_exit_4(tmp_path: Path):
    project = make_project(tmp_path, TRAIN)
    baseline = git(project, "rev-parse", "HEAD")
    done = cli(project, "loop", "--agent", "claude", "--tag", "err", "--iterations", "3",
               "--agent-max-failures", "2", STANDIN_MODE="is_error")
    assert done.returncode == 4
    assert done.stderr.splitlines()[-1] == (
        "autoresearch: error: agent 'claude' failed 2 times in a row; last: claude returned "
        "is_error: API Error: 401 invalid x-api-key (details in "
        f"{state_dir(project) / 'agent' / 'w1'})")
    assert git(project, "rev-parse", "autoresearch/err") == baseline
    assert git(project, "status", "--porcelain") == ""


# -- the built-in tuner ---------------------------------------------------------------------

TUNABLE = """\
LR = 0.5  # learning rate
DEPTH = 3  # layers
loss = 1.0 + 10 * (LR - 0.05) ** 2 + 0.1 * abs(DEPTH - 8)
print(f"val_bpb: {loss:.6f}")
"""


def test_the_tune_agent_improves_the_metric_without_a_model(tmp_path: Path):
    pytest.importorskip("optuna")
    project = make_project(tmp_path, TUNABLE)
    done = cli(project, "loop", "--agent", "tune", "--tag", "tune", "--iterations", "8")
    assert done.returncode == 0, done.stdout + done.stderr

    logged = experiments(project)
    assert len(logged) == 9
    baseline = logged[0]["value"]
    assert baseline == 3.525
    kept = [d for d in logged[1:] if d["status"] == "keep"]
    assert kept, [d["status"] for d in logged]
    best = min(d["value"] for d in kept)
    assert best < baseline
    summary = records(project)[-1]["details"]
    assert (summary["best"], summary["baseline"]) == (best, baseline)
    text = at(project, "autoresearch/tune")
    assert text != TUNABLE and "# learning rate" in text and "# layers" in text
    assert git(project, "status", "--porcelain") == ""
