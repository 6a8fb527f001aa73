"""Bad input, as a user meets it through the CLI: each is ONE line on stderr (no traceback)
naming the file, key or value, with an exit code from the README's table.

Bad metric output and bad agent output are not CLI errors: they are crash rows and
``agent_failed`` records in the logs, and the loop goes on (until ``agent_max_failures``
failures in a row: exit 4). tests/test_config.py covers the common config mistakes; the
cases here are the rest: loop options, recipes, less common keys and contradictions,
run and agent output, and the environment.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import helpers
import pytest
from conftest import git, init_repo
from helpers import PY, write_ml_project

from autoresearch import ledger

STANDINS = Path(__file__).parent / "standins"
TRAIN = 'VAL_BPB = 1.0\nprint(f"val_bpb: {VAL_BPB:.6f}")\n'
# --agent command with a command that changes nothing: no case here needs a real agent.
AGENT = ["--agent", "command", "--agent-command", "true"]
cli = functools.partial(helpers.cli, timeout=60)


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    """An ML project (train.py + prepare.py) committed on main."""
    return init_repo(write_ml_project(tmp_path / "project", TRAIN), commit=True)


def error_line(done: subprocess.CompletedProcess) -> str:
    """The one line on stderr (asserting there is exactly one, and no traceback)."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("autoresearch: error: "), lines[0]
    return lines[0][len("autoresearch: error: "):]


def assert_nothing_changed(project: Path) -> None:
    """A rejected command line changes nothing: no branch, no log, no results.tsv (only the
    CLI's own state directory may have appeared)."""
    assert git(project, "branch", "--list") == "* main"
    assert git(project, "status", "--porcelain") == ""
    assert not (project / ledger.RESULTS_FILE).exists()
    assert not (project / ledger.EVENTS_FILE).exists()


# -- command-line options ---------------------------------------------------------------------

DURATION = "must be seconds or a duration like 90s, 5m, 1h30m"
USD = "must be a number of USD >= 0, e.g. 5 or 2.50"
OPTIONS = {
    "negative iterations": (["loop", "--iterations", "-1"],
                            "option --iterations = '-1' must not be negative"),
    "iterations not a number": (["loop", "-n", "abc"], "option -n = 'abc' must be a whole number"),
    "fractional iterations": (["loop", "--iterations", "1.5"],
                              "option --iterations = '1.5' must be a whole number"),
    "max-time with a bad unit": (["loop", "--max-time", "5x"], f"--max-time '5x' {DURATION}"),
    "max-time zero": (["loop", "--max-time", "0"], "--max-time '0' must be greater than 0"),
    "negative max-time": (["loop", "--max-time", "-3m"], f"--max-time '-3m' {DURATION}"),
    "max-time with trailing junk": (["loop", "--max-time", "1h30x"],
                                    f"--max-time '1h30x' {DURATION}"),
    "empty max-time": (["loop", "--max-time="], f"--max-time '' {DURATION}"),
    "max-time infinite": (["loop", "--max-time", "inf"],
                          "--max-time 'inf' must be a finite number"),
    "max-cost not a number": (["loop", "--max-cost", "abc"], f"--max-cost 'abc' {USD}"),
    "negative max-cost": (["loop", "--max-cost", "-1"], f"--max-cost '-1' {USD}"),
    "max-cost NaN": (["loop", "--max-cost", "nan"], f"--max-cost 'nan' {USD}"),
    "max-cost infinite": (["loop", "--max-cost", "inf"], f"--max-cost 'inf' {USD}"),
    "empty max-cost": (["loop", "--max-cost="], f"--max-cost '' {USD}"),
    "unknown agent": (["loop", "--agent", "gpt-engineer"],
                      "--agent: agent = 'gpt-engineer' is not accepted; accepted: claude, "
                      "codex, gemini, aider, opencode, command, tune, or one of the first six "
                      "+ tune (e.g. claude+tune)"),
    "tag with a space": (["loop", "--tag", "bad tag!"],
                         "--tag 'bad tag!' is not a valid tag; use letters, digits, '.', '_' or "
                         "'-' (e.g. nov25 or lr-sweep)"),
    "tag with a shell substitution": (["loop", "--tag", "a$(touch pwned)"],
                                      "--tag 'a$(touch pwned)' is not a valid tag; use letters, "
                                      "digits, '.', '_' or '-' (e.g. nov25 or lr-sweep)"),
    "tag with ..": (["loop", "--tag", "..x"],
                    "--tag '..x' is not a valid tag; use letters, digits, '.', '_' or '-' "
                    "(e.g. nov25 or lr-sweep)"),
    "flag given a value": (["loop", "--quiet=yes"], "option --quiet takes no value"),
    "misspelt command": (["lop"], "unknown command 'lop'; did you mean 'loop'? commands: loop, "
                                  "setup, results, dashboard, measure, config, detect, init, "
                                  "finalize, demo"),
    "zero time budget": (["loop", "--time-budget", "0"],
                         "--time-budget: time_budget = '0' must be greater than 0"),
    "bad agent timeout": (["loop", "--agent-timeout", "1x"],
                          f"--agent-timeout: agent_timeout = '1x' {DURATION}"),
    "zero agent failures": (["loop", "--agent-max-failures", "0"],
                            "--agent-max-failures: agent_max_failures = '0' must be at least 1"),
    "negative agent budget": (["loop", "--agent-budget-usd", "-2"],
                              "--agent-budget-usd: agent_budget_usd = '-2' must be at least 0"),
    "unbalanced agent args": (["loop", "--agent-args", "'unbalanced"],
                              "--agent-args: agent_args = \"'unbalanced\" is not a valid argument "
                              "list (No closing quotation)"),
    "negative agent seed": (["loop", "--agent-seed", "-1"],
                            "--agent-seed: agent_seed = '-1' must be at least 0"),
    "unknown aggregate": (["loop", "--aggregate", "average"],
                          "--aggregate: aggregate = 'average' is not accepted; accepted: median, "
                          "min, mean"),
    "unknown metric unit": (["loop", "--metric-unit", "KiB"],
                            "--metric-unit: metric_unit = 'KiB' is not accepted; did you mean "
                            "'KB'? accepted: B, KB, MB, GB, s, ms"),
    "unknown metric source": (["loop", "--metric-source", "csv"],
                              "--metric-source: metric_source = 'csv' is not accepted; accepted: "
                              "command, regex, lines, json, size, time, emitted"),
    "timeout below time budget": (["loop", "--timeout", "1s", "--time-budget", "5"],
                                  "--timeout: timeout (1 s) is shorter than time_budget (5 s); "
                                  "raise it or leave it unset"),
    "calibrate with too few runs": (["setup", "--tag", "cal", "--calibrate", "2"],
                                    "--calibrate 2: needs at least 3 runs to estimate the noise"),
}


@pytest.mark.parametrize("case", list(OPTIONS))
def test_bad_option_is_one_line_with_exit_2(case, project, env):
    args, expected = OPTIONS[case]
    done = cli(project, args[0], *AGENT, *args[1:], env=env)  # the case's own --agent comes last
    assert (done.returncode, error_line(done)) == (2, expected)
    assert_nothing_changed(project)


# -- config files: the less common keys and contradictions ------------------------------------

CLAUDE = "# Project\n\n## autoresearch\n"  # the first bullet is on line 4
CONFIG = {
    "a list where text is expected": (
        {"autoresearch.yaml": "run_command: [python, train.py]\n"},
        "{p}/autoresearch.yaml:1: run_command = \"['python', 'train.py']\" must be a single "
        "text value"),
    "a mapping where text is expected": (
        {"autoresearch.yaml": "metric_name: {a: 1}\n"},
        "{p}/autoresearch.yaml:1: metric_name = \"{{'a': 1}}\" must be a single text value"),
    "not a boolean": (
        {"autoresearch.yaml": "agent_skip_permissions: maybe\n"},
        "{p}/autoresearch.yaml:1: agent_skip_permissions = 'maybe' must be true or false"),
    "a boolean where a duration is expected": (
        {"autoresearch.yaml": "time_budget: true\n"},
        "{p}/autoresearch.yaml:1: time_budget = 'True' must be seconds or a duration like "
        "90s, 5m, 1h30m"),
    "an absolute evaluation file": (
        {"autoresearch.yaml": "evaluation_files: /etc/passwd\n"},
        "{p}/autoresearch.yaml:1: evaluation_files = '/etc/passwd' must be paths inside the "
        "project (relative, without '..')"),
    "the target is also an evaluation file": (
        {"autoresearch.yaml": "evaluation_files: train.py\n"},
        "{p}/autoresearch.yaml:1: 'train.py' is both the target_file and in evaluation_files; "
        "the agent's file cannot be read-only"),
    "size metric without metric_file": (
        {"autoresearch.yaml": "metric_source: size\n"},
        "{p}/autoresearch.yaml:1: metric_source 'size' needs metric_file; set it in CLAUDE.md "
        "or autoresearch.yaml"),
    "zero agent turns": (
        {"autoresearch.yaml": "agent_max_turns: 0\n"},
        "{p}/autoresearch.yaml:1: agent_max_turns = '0' must be at least 1"),
    "a blank agent command": (
        {"autoresearch.yaml": "agent_command: '   '\n"},
        "{p}/autoresearch.yaml:1: agent_command = '   ' must not be empty"),
    "a zero timeout in CLAUDE.md": (
        {"CLAUDE.md": CLAUDE + "- timeout: 0\n"},
        "{p}/CLAUDE.md:4: timeout = '0' must be greater than 0"),
    "a readonly file outside the project": (
        {"CLAUDE.md": CLAUDE + "- readonly_files: prepare.py, ../secret.txt\n"},
        "{p}/CLAUDE.md:4: readonly_files = 'prepare.py, ../secret.txt' must be paths inside "
        "the project (relative, without '..')"),
    "empty instructions": (
        {"CLAUDE.md": CLAUDE + "- instructions:\n"},
        "{p}/CLAUDE.md:4: instructions = '' must not be empty"),
    "a bad percentage": (
        {"CLAUDE.md": CLAUDE + "- min_delta: 1%%\n"},
        "{p}/CLAUDE.md:4: min_delta = '1%%' must be a number >= 0, optionally with % "
        "(e.g. 0.01 or 0.5%)"),
    "CLAUDE.md and autoresearch.yaml contradict (yaml wins, then fails)": (
        {"CLAUDE.md": CLAUDE + "- time_budget: 60\n", "autoresearch.yaml": "timeout: 30\n"},
        "{p}/autoresearch.yaml:1: timeout (30 s) is shorter than time_budget (60 s); raise it "
        "or leave it unset"),
}


@pytest.mark.parametrize("case", list(CONFIG))
def test_bad_config_is_one_line_naming_file_line_and_key(case, project, env):
    files, expected = CONFIG[case]
    for name, text in files.items():
        (project / name).write_text(text)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "config")
    done = cli(project, "loop", "-n", "1", env=env)
    assert (done.returncode, error_line(done)) == (2, expected.format(p=project))


# -- recipes -----------------------------------------------------------------------------------

RECIPES = {
    "YAML syntax": ("name: [unclosed\n",
                    "{r}:2: YAML error: expected ',' or ']', but got '<stream end>'"),
    "unknown key": ("name: mine\nrun: make\n",
                    "{r}:2: recipe key 'run' is unknown; accepted: description, detect, "
                    "direction, evaluation_files, metric, name, priority, readonly_files, "
                    "run_command, target, variants"),
    "no name": ("description: nameless\n",
                "{r}:1: recipe key 'name' must be a lowercase word (letters, digits, - or _), "
                "got None"),
    "bad name": ("name: My Recipe\n",
                 "{r}:1: recipe key 'name' must be a lowercase word (letters, digits, - or _), "
                 "got 'My Recipe'"),
    "priority not a number": ("name: mine\npriority: high\n",
                              "{r}:2: recipe key 'priority' must be a whole number, got 'high'"),
    "bad direction": ("name: mine\ndirection: up\n",
                      "{r}:2: recipe key 'direction' is 'up'; accepted: lower_is_better, "
                      "higher_is_better"),
    "detect not a mapping": ("name: mine\ndetect: [train.py]\n",
                             "{r}:2: recipe key 'detect' must be a mapping, got list"),
    "absolute target": ("name: mine\ntarget: [{path: /etc/passwd}]\n",
                        "{r}:2: recipe key 'target' entry field 'path' must be relative to the "
                        "project (no leading / or '..'), got '/etc/passwd'"),
    "bad target pattern": ("name: mine\ntarget: [{search: '**/*.py', pattern: '('}]\n",
                           "{r}:2: recipe key 'target' has a bad pattern '(': missing ), "
                           "unterminated subpattern at position 0"),
    "a shipped name with a bad metric regex": (
        "name: ml\ndetect: {all_files: [train.py, prepare.py]}\ntarget: [{path: train.py}]\n"
        "run_command: python train.py\nmetric: {name: val_bpb, source: regex, regex: '('}\n",
        "recipe ml (bad.yaml): metric_regex: '(' is not a valid regular expression (missing ), "
        "unterminated subpattern at position 0); write a Python regex with one group around "
        "the number"),
}


@pytest.mark.parametrize("case", list(RECIPES))
def test_a_malformed_recipe_is_one_line_naming_the_recipe(case, tmp_path, project, env):
    text, expected = RECIPES[case]
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "bad.yaml").write_text(text)
    done = cli(project, "loop", "-n", "1", *AGENT,
               env=env, extra={"AUTORESEARCH_RECIPES": str(recipes)})
    assert (done.returncode, error_line(done)) == (2, expected.format(r=recipes / "bad.yaml"))
    assert_nothing_changed(project)


def test_a_recipe_that_is_not_utf8(tmp_path, project, env):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "bad.yaml").write_bytes(b"name: caf\xe9\n")
    done = cli(project, "config", env=env, extra={"AUTORESEARCH_RECIPES": str(recipes)})
    assert (done.returncode, error_line(done)) == (
        2, f"{recipes / 'bad.yaml'}:1: not valid UTF-8 text; save the file as UTF-8")


# -- metric output: crash rows, not CLI errors -------------------------------------------------

REGEX_MISS = "no line of the run log matches metric_regex"
METRIC_OUTPUT = {
    # name: (run command, extra flags, status, value in results.tsv, reason starts with)
    "empty output": ("true", [], "crash", 0.0, REGEX_MISS),
    "not a number": ("echo 'val_bpb: abc'", [], "crash", 0.0, REGEX_MISS),
    "NaN": ("echo 'val_bpb: nan'", [], "crash", 0.0, "val_bpb is NaN"),
    "inf": ("echo 'val_bpb: inf'", [], "crash", 0.0, "val_bpb is infinite (inf)"),
    "-inf": ("echo 'val_bpb: -inf'", [], "crash", 0.0, "val_bpb is infinite (-inf)"),
    "overflowing to inf": ("echo 'val_bpb: 1e309'", [], "crash", 0.0,
                           "val_bpb is infinite (1e309)"),
    "1e308 is a number": ("echo 'val_bpb: 1e308'", [], "keep", 1e308, "baseline"),
    "the number before the name": ("echo '0.95 val_bpb'", [], "crash", 0.0, REGEX_MISS),
    "words after the name": ("echo 'val_bpb: see epoch 3'", [], "crash", 0.0, REGEX_MISS),
    "metric_parse prints nothing": ("echo nothing", ["--metric-parse", "grep val_bpb run.log"],
                                    "crash", 0.0,
                                    "metric_parse exited with 1 and printed no number"),
    "metric_parse prints words": ("echo nothing", ["--metric-parse", "echo no metric here"],
                                  "crash", 0.0,
                                  "metric_parse printed no number (it printed 'no metric here')"),
    "the run fails after printing the metric": ("echo 'val_bpb: 0.9'; exit 1", [], "crash", 0.0,
                                                "exit code 1"),
}


@pytest.mark.parametrize("case", list(METRIC_OUTPUT))
def test_bad_metric_output_is_a_crash_row_not_an_error(case, project, env):
    command, flags, status, value, reason = METRIC_OUTPUT[case]
    done = cli(project, "loop", "--tag", "m", "--max-time", "0.001", *AGENT,
               "--run-command", command, *flags, env=env)  # the baseline run only
    if status == "crash":  # a crashed baseline: the loop stops, no agent is paid for
        assert done.returncode == 7, done.stderr
        assert error_line(done).startswith("no working baseline: commit ")
    else:
        assert (done.returncode, done.stderr) == (0, "")
    records, skipped = ledger.read_events(project / ledger.EVENTS_FILE)
    (row,) = ledger.experiments(records)
    details = row["details"]
    assert (details["status"], details["reason"][:len(reason)]) == (status, reason)
    assert row["status"] == ("fail" if status == "crash" else "success")
    if status == "crash":
        assert details["value"] == 0 and details["error"] == details["reason"]
    (tsv,), _ = ledger.read_results(project / ledger.RESULTS_FILE)
    assert (tsv.status, tsv.value) == (status, value)
    assert skipped == 0 and git(project, "status", "--porcelain") == ""


# -- agent output ------------------------------------------------------------------------------

AGENT_OUTPUT = {
    "not JSON": ({"STANDIN_MODE": "garbage"}, "claude printed no JSON (exit code 0)"),
    "is_error": ({"STANDIN_MODE": "is_error"},
                 "claude returned is_error: API Error: 401 invalid x-api-key"),
    "turn limit": ({"STANDIN_MODE": "max_turns"}, "claude hit the turn limit (error_max_turns)"),
    "exits before any output": ({"STANDIN_MODE": "exit1"}, "claude printed no JSON (exit code 1)"),
}


@pytest.mark.parametrize("case", list(AGENT_OUTPUT))
def test_bad_agent_output_is_logged_then_exit_4(case, project, env):
    """Each failure is an agent_failed record (and a warning line); after
    agent_max_failures in a row the loop stops: exit 4 and one error line."""
    mode, reason = AGENT_OUTPUT[case]
    done = cli(project, "loop", "-n", "3", "--agent", "claude", "--agent-max-failures", "2",
               env=env, extra={"PATH": f"{STANDINS}{os.pathsep}{env['PATH']}", **mode})
    assert done.returncode == 4
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"autoresearch: warning: agent claude failed (1/2 in a row): {reason}",
        f"autoresearch: warning: agent claude failed (2/2 in a row): {reason}",
        f"autoresearch: error: agent 'claude' failed 2 times in a row; last: {reason} "
        f"(details in {project / '.git' / 'autoresearch' / 'root' / 'agent' / 'w1'})"]
    records, _ = ledger.read_events(project / ledger.EVENTS_FILE)
    failed = [r["details"] for r in records if r["action"] == "agent_failed"]
    assert [(f["error"], f["consecutive"]) for f in failed] == [(reason, 1), (reason, 2)]
    assert [r["details"]["status"] for r in ledger.experiments(records)] == ["keep"]
    assert git(project, "status", "--porcelain") == ""


def test_huge_agent_output_is_bounded(tmp_path, project, env):
    """An agent that prints 30 MB (one line) after a good edit: the experiment is logged with
    a clipped description; the agent's captured output stays bounded."""
    agent = tmp_path / "loud_agent.py"
    agent.write_text("import pathlib, sys\n"
                     "p = pathlib.Path('train.py')\n"
                     "p.write_text(p.read_text().replace('1.0', '0.5'))\n"
                     "sys.stdout.write('lowered it ' + 'x' * 30_000_000 + '\\n')\n")
    done = cli(project, "loop", "-n", "1", "--agent", "command",
               "--agent-command", f"{PY} {agent}", env=env)
    assert done.returncode == 0, done.stderr
    records, _ = ledger.read_events(project / ledger.EVENTS_FILE)
    details = ledger.experiments(records)[-1]["details"]
    assert details["status"] == "keep" and details["value"] == 0.5
    assert details["description"].startswith("lowered it xxx")
    assert len(details["description"]) <= 120
    assert max(map(len, (project / ledger.EVENTS_FILE).read_bytes().split(b"\n"))) < 10_000
    captured = project / ".git" / "autoresearch" / "root" / "agent" / "w1" / "command.stdout"
    assert captured.stat().st_size <= 20 * 2**20 + 100


def test_huge_claude_result_is_bounded(project, env):
    say = "Lowered VAL_BPB " + "y" * 100_000
    done = cli(project, "loop", "-n", "1", "--agent", "claude",
               env=env, extra={"PATH": f"{STANDINS}{os.pathsep}{env['PATH']}",
                               "STANDIN_EDIT": "train.py:1.0:0.25", "STANDIN_SAY": say})
    assert done.returncode == 0, done.stderr
    records, _ = ledger.read_events(project / ledger.EVENTS_FILE)
    details = ledger.experiments(records)[-1]["details"]
    assert details["value"] == 0.25
    assert details["description"].startswith("Lowered VAL_BPB yyy")
    assert len(details["description"]) <= 120


# -- the environment ---------------------------------------------------------------------------

def test_git_missing_from_path(tmp_path, project, env):
    bin_dir = tmp_path / "bin"  # python, but no git
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(PY)
    done = cli(project, "loop", "-n", "1", *AGENT, env=env, extra={"PATH": str(bin_dir)})
    assert (done.returncode, error_line(done)) == (
        3, "git is not installed or not on PATH: install it (e.g. apt-get install git)")
    assert_nothing_changed(project)


def test_not_a_repository(tmp_path, env):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text(TRAIN)
    (plain / "prepare.py").write_text("\n")
    done = cli(plain, "loop", "-n", "1", *AGENT, env=env)
    assert (done.returncode, error_line(done)) == (
        3, f"{plain} is not inside a git repository: run 'git init' there and commit your "
           "project first")


INSTALL = {
    "claude": "npm install -g @anthropic-ai/claude-code",
    "codex": "npm install -g @openai/codex",
    "gemini": "npm install -g @google/gemini-cli",
    "aider": "python -m pip install aider-install && aider-install",
    "opencode": "npm install -g opencode-ai",
}


@pytest.mark.parametrize("agent", list(INSTALL))
def test_agent_missing_from_path_names_the_install_command(agent, tmp_path, project, env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(subprocess.run(["which", "git"], capture_output=True,
                                                text=True).stdout.strip())
    done = cli(project, "loop", "-n", "1", "--agent", agent, env=env, extra={"PATH": str(bin_dir)})
    assert (done.returncode, error_line(done)) == (
        3, f"agent '{agent}' needs '{agent}' on PATH, which was not found; install it with: "
           f"{INSTALL[agent]}")
    assert_nothing_changed(project)


def test_uncommitted_changes_are_named_and_left_alone(project, env):
    (project / "train.py").write_text(TRAIN + "# edited\n")
    done = cli(project, "loop", "-n", "1", "--agent", "command", "--agent-command",
               "echo 'TRIED = 1' >> train.py", env=env)
    assert done.returncode == 0, done.stderr
    assert ("note: uncommitted changes to train.py are not part of the experiment (it starts "
            "from the committed tree); your files are left as they are") in done.stdout
    assert (project / "train.py").read_text().endswith("# edited\n")
    assert git(project, "symbolic-ref", "--short", "HEAD") == "main"


def test_config_errors_come_before_environment_errors(tmp_path, env):
    """Not a repository *and* a bad option: the option is reported (nothing was touched)."""
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text(TRAIN)
    (plain / "prepare.py").write_text("\n")
    done = cli(plain, "loop", "--max-time", "soon", *AGENT, env=env)
    assert (done.returncode, error_line(done)) == (2, f"--max-time 'soon' {DURATION}")
    assert done.stdout == ""
