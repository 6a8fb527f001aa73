"""The search in a real loop (issue 16): duplicates are not run, plateaus pivot or stop,
a near-miss is branched from or combined, ``command+tune`` takes turns with the tuner and
shares what it learns, and screening spares full runs.

The agent is a scripted ``command`` agent that records the prompt it was given (stdin) and
the train.py it found, then follows its plan; the loops are real (git, runs, ledger).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from helpers import cli, experiments, git, make_project, records, train_py

PY = sys.executable

PROMPT_AGENT = r'''
import json, pathlib, sys
plan_file = pathlib.Path(sys.argv[1])
plan = json.loads(plan_file.read_text())
calls = plan_file.with_suffix(".calls")
n = int(calls.read_text()) if calls.exists() else 0
calls.write_text(str(n + 1))
prompts = plan_file.parent / "prompts"
prompts.mkdir(exist_ok=True)
(prompts / f"{n + 1}.txt").write_text(sys.stdin.read())
with open(plan_file.with_suffix(".seen"), "a") as seen:
    seen.write(json.dumps(pathlib.Path("train.py").read_text()) + "\n")
if n >= len(plan):
    sys.exit(f"agent plan exhausted after {len(plan)} calls")
step = plan[n]
for path, text in step.get("write", {}).items():
    pathlib.Path(path).write_text(text)
print(step.get("say", f"step {n + 1}"))
'''


def write(value: float, say: str, **extra) -> dict:
    return {"write": {"train.py": train_py(value, **extra)}, "say": say}


def project_with(tmp: Path, plan: list, train: str | None = None, agent_name: str = "command",
                 **config) -> Path:
    project = make_project(tmp, train or train_py(1.0), plan, agent=PROMPT_AGENT, **config)
    if agent_name != "command":
        settings = project / "autoresearch.yaml"
        settings.write_text(settings.read_text().replace('agent: "command"',
                                                         f'agent: "{agent_name}"'))
        git(project, "commit", "-qam", f"agent {agent_name}")
    return project


def prompt(tmp: Path, call: int) -> str:
    return (tmp / "prompts" / f"{call}.txt").read_text()


def seen(tmp: Path) -> list[str]:
    return [json.loads(line) for line in (tmp / "plan.seen").read_text().splitlines()]


def calls(tmp: Path) -> int:
    return int((tmp / "plan.calls").read_text())


def loop(project: Path, *args: str) -> dict:
    done = cli(project, "loop", "--tag", "s", "--quiet", "--json", *args, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def of_action(project: Path, action: str) -> list[dict]:
    return [r["details"] for r in records(project) if r["action"] == action]


# -- duplicates ---------------------------------------------------------------------------------

def test_a_duplicate_is_not_run_and_the_agent_is_asked_again(tmp_path):
    plan = [write(1.2, "raise to 1.2"),
            write(1.2, "raise to 1.2 again", after="# a comment only\n"),
            write(0.7, "lower to 0.7")]
    project = project_with(tmp_path, plan)
    summary = loop(project, "-n", "2")

    assert [(e["number"], e["status"], e["value"]) for e in experiments(project)] == [
        (1, "keep", 1.0), (2, "discard", 1.2), (3, "keep", 0.7)]
    assert summary["experiments"] == 2 and calls(tmp_path) == 3
    [duplicate] = of_action(project, "duplicate")
    assert duplicate["of"] == 2
    assert duplicate["reason"] == "same code as #2 (whitespace and comments aside)"
    assert duplicate["description"] == "raise to 1.2 again"
    starts = [r["details"]["idea"] for r in records(project) if r["action"] == "experiment_start"]
    assert "raise to 1.2 again" not in starts  # never run
    assert "## Your last proposal was not run: same code as #2" in prompt(tmp_path, 3)
    assert "- #2 discard" in prompt(tmp_path, 3)  # the most similar past experiment, shown
    assert "was not run" not in prompt(tmp_path, 2)
    # the run's times as configured (time_budget 300 s, timeout its double by default)
    assert "a run should take about 300 s and is stopped after 600 s" in prompt(tmp_path, 1)
    # every experiment record carries what a resumed loop rebuilds the index from
    assert all(e["fingerprint"] and e.get("change", "x") for e in experiments(project)[1:])


def test_a_resumed_loop_still_knows_what_was_measured(tmp_path):
    plan = [write(0.8, "lower to 0.8"), write(1.2, "raise to 1.2"),
            write(1.2, "raise to 1.2, again", after="\n\n"), write(0.7, "lower to 0.7")]
    project = project_with(tmp_path, plan)
    loop(project, "-n", "2")
    loop(project, "-n", "1")
    [duplicate] = of_action(project, "duplicate")
    assert duplicate["of"] == 3 and duplicate["reason"].startswith("same code as #3")
    assert [e["value"] for e in experiments(project)] == [1.0, 0.8, 1.2, 0.7]


def test_duplicates_count_toward_agent_max_failures(tmp_path):
    same = write(1.0, "nothing new", after="# only a comment\n")
    project = project_with(tmp_path, [same] * 5, agent_max_failures=3)
    done = cli(project, "loop", "--tag", "s", "-n", "10", timeout=120)
    assert done.returncode == 4, done.stderr
    assert "failed 3 times in a row; last: duplicate: no change (whitespace and comments " \
        "aside)" in done.stderr
    assert len(of_action(project, "duplicate")) == 3
    assert len(experiments(project)) == 1  # the baseline only: nothing was run


# -- plateaus -----------------------------------------------------------------------------------

def test_a_plateau_pivots_and_then_stops_with_reason_plateau(tmp_path):
    plan = [write(1.5 + i / 10, f"worse {i}") for i in range(6)]
    project = project_with(tmp_path, plan, pivot_after=2, stop_after_plateau=4)
    summary = loop(project, "-n", "50")

    assert summary["stopped"] == "plateau" and summary["experiments"] == 4
    assert calls(tmp_path) == 4
    end = of_action(project, "session_end")[-1]
    assert end["stopped"] == "plateau"
    assert "## Plateau" not in prompt(tmp_path, 2)
    assert "## Plateau: 2 experiments in a row without a keep" in prompt(tmp_path, 3)
    assert "Directions already tried since the last keep" in prompt(tmp_path, 3)
    assert "## Plateau" not in prompt(tmp_path, 4)  # once per plateau length


def test_a_near_miss_is_branched_from_and_a_winner_lands_on_the_best(tmp_path):
    plan = [write(1.05, "close but worse"), write(0.9, "from the near-miss: 0.9")]
    project = project_with(tmp_path, plan, pivot_after=1, near_miss=0.2)
    baseline = git(project, "rev-parse", "HEAD")
    loop(project, "-n", "2")

    near, winner = experiments(project)[1:]
    assert near["status"] == "discard"
    assert seen(tmp_path)[1] == train_py(1.05)  # the agent's copy was the near-miss's tree
    assert "This time you start from a near-miss instead of the best: #2" in prompt(tmp_path, 2)
    assert winner["status"] == "keep" and winner["branched_from"] == near["commit"]
    # the branch holds only kept commits: the winner is committed on the best itself
    assert git(project, "rev-parse", f"{winner['full_commit']}^") == baseline
    assert git(project, "rev-list", "--count", f"{baseline}..autoresearch/s") == "1"


def test_two_near_misses_are_combined_at_the_second_pivot(tmp_path):
    plan = [write(1.05, "a"), write(1.04, "b"), write(1.03, "c from b"), write(1.02, "d"),
            write(0.9, "a and d together")]
    project = project_with(tmp_path, plan, pivot_after=2, near_miss=0.2)
    loop(project, "-n", "5")
    logged = experiments(project)
    assert logged[3]["branched_from"] == logged[2]["commit"]  # first pivot: a branch
    text = prompt(tmp_path, 5)
    assert "Combine these two near-misses" in text
    combined = logged[5]
    assert combined["status"] == "keep" and len(combined["combines"]) == 2
    assert set(combined["combines"]) <= {2, 4, 5}
    assert seen(tmp_path)[4] == train_py(1.0)  # a combine starts from the best


# -- the model and the tuner together -------------------------------------------------------------

TUNABLE = "LR = 0.5  # tune: 0.01..1.0\nVALUE = 1.0\nprint(f'val_bpb: {VALUE * (1 + abs(LR - 0.3)):.6f}')\n"


def test_command_plus_tune_takes_turns_and_the_tuner_learns_from_the_model(tmp_path):
    model = [{"write": {"train.py": TUNABLE.replace("VALUE = 1.0", f"VALUE = {v}")},
              "say": f"value {v}"} for v in (0.99, 0.98, 0.97, 0.96, 0.95, 0.94)]
    project = project_with(tmp_path, model, train=TUNABLE, agent_name="command+tune",
                           tune_share=0.5, agent_seed=3)
    loop(project, "-n", "6")

    logged = experiments(project)[1:]
    tuned = [e for e in logged if e.get("proposer") == "tune"]
    by_model = [e for e in logged if e.get("proposer") is None]
    assert len(tuned) + len(by_model) == 6 and 2 <= len(tuned) <= 4  # tune_share 0.5
    assert all(e["description"].startswith("tune: ") for e in tuned)
    assert calls(tmp_path) == len(by_model)
    # the model is told what the tuner owns once something was measured
    last = prompt(tmp_path, calls(tmp_path))
    assert "## Constants the tuner owns" in last and "A tuner searches LR" in last
    assert "Best-known settings" in last

    import optuna  # the tuner's study holds the model's measured trees too
    db = next((project / ".git" / "autoresearch").rglob("tune.db"))
    learnt = {trial.user_attrs["experiment"]
              for summary in optuna.get_all_study_summaries(f"sqlite:///{db}")
              for trial in optuna.load_study(study_name=summary.study_name,
                                             storage=f"sqlite:///{db}").trials
              if "experiment" in trial.user_attrs}
    model_numbers = {e["number"] for e in by_model}
    assert learnt and learnt <= model_numbers | {1}  # the baseline's tree is learnt too


def test_command_plus_tune_is_a_known_agent_and_needs_agent_command(tmp_path):
    project = project_with(tmp_path, [], agent_name="command+tune")
    (project / "autoresearch.yaml").write_text("agent: command+tune\n"
                                               f"run_command: {shlex.quote(PY)} train.py\n")
    git(project, "commit", "-qam", "no agent_command")
    done = cli(project, "loop", "--tag", "s", "-n", "1")
    assert done.returncode == 2
    assert "agent 'command+tune' needs agent_command" in done.stderr


# -- screening ---------------------------------------------------------------------------------

SCREENED = ("import sys, time\nVALUE = {v}\nscreen = '--screen' in sys.argv\n"
            "scale = 1.1 if screen else 1.0\ntime.sleep(0 if screen else 0.8)  # the full run\n"
            "print(f'val_bpb: {{VALUE * scale:.6f}}')\n")


def test_screening_spares_the_full_run_of_a_candidate_far_worse(tmp_path):
    plan = [{"write": {"train.py": SCREENED.format(v=2.0)}, "say": "far worse"},
            {"write": {"train.py": SCREENED.format(v=0.99)}, "say": "a bit better"}]
    project = project_with(tmp_path, plan, train=SCREENED.format(v=1.0),
                           screen_command=f"{shlex.quote(PY)} train.py --screen")
    summary = loop(project, "-n", "2")

    worse, better = experiments(project)[1:]
    assert (worse["status"], worse["reason"]) == ("discard", "screened out")
    assert worse["screened"] == pytest.approx(2.2)
    assert (better["status"], better["value"]) == ("keep", 0.99)  # the full run's value
    assert summary["screened_out"] == 1
    # one full run of ~0.8 s spared, three quick screens paid (the best's and two candidates')
    assert 0 < summary["screen_saved_s"] < 1.5
    state = next((project / ".git" / "autoresearch").iterdir())
    assert not (state / "runs" / worse["full_commit"] / "1").exists()  # no full run
    assert (state / "runs" / worse["full_commit"] / "screen.log").exists()
    assert (state / "runs" / better["full_commit"] / "1" / "run.log").exists()
