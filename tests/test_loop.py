"""The loop as a user runs it: a scripted `command` agent, real git, signals, kills and locks.

The agent is a small Python script outside the project that follows a plan, one step per
call (what to write or delete, whether to hang, what to say, its exit code), and records
the state of the tree it was handed (HEAD and `git status`) so every test can check that
each call starts from a clean tree at the best commit.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from helpers import (
    PREPARE,
    agent_calls,
    agent_saw,
    agent_states,
    at,
    cli,
    experiments,
    git,
    git_run,
    gone,
    make_project,
    records,
    start,
    state_dir,
    train_py,
    wait_for,
)


def write(value: float, say: str, **step) -> dict:
    return {"write": {"train.py": train_py(value)}, "say": say, **step}


def actions(project: Path) -> list[str]:
    return [r["action"] for r in records(project)]


def tsv_rows(project: Path) -> list[list[str]]:
    return [line.split("\t") for line in (project / "results.tsv").read_text().splitlines()[1:]]


def assert_clean_at(project: Path, branch: str, sha: str, start: str | None = None) -> None:
    """The experiment branch is at ``sha``; the user's tree is untouched: clean, on main, at
    ``start`` when given."""
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    if start is not None:
        assert git(project, "rev-parse", "HEAD") == start
    assert git(project, "rev-parse", branch) == sha
    assert git(project, "rev-parse", f"refs/autoresearch/{branch.split('/', 1)[1]}/best") == sha


def is_ancestor(project: Path, commit: str, of: str) -> bool:
    return git_run(project, "merge-base", "--is-ancestor", commit, of).returncode == 0


def kill_mid_phase(project: Path, tag: str, marker: Path) -> None:
    """SIGKILL ``loop --tag TAG --iterations 1`` once ``marker`` holds the pid of the agent
    or the run, then kill that process group too: the loop could not clean up."""
    proc = start(project, "loop", "--tag", tag, "--iterations", "1")
    wait_for(marker, proc)
    pid = int(marker.read_text())
    proc.kill()
    proc.communicate(timeout=60)
    os.killpg(os.getpgid(pid), signal.SIGKILL)


# -- a loop with the command agent ------------------------------------------------------------


def test_four_iterations_keep_discard_and_crash(tmp_path: Path):
    plan = [write(0.8, "lower to 0.8"), write(0.9, "raise to 0.9"),
            {"write": {"train.py": "raise SystemExit(2)\n"}, "say": "exit early"},
            write(0.5, "lower to 0.5")]
    project = make_project(tmp_path, train_py(1.0), plan)
    start_commit = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--tag", "four", "--iterations", "4")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""

    logged = experiments(project)
    assert [(d["number"], d["status"], d["reason"]) for d in logged] == [
        (1, "keep", "baseline"), (2, "keep", "improved"), (3, "discard", "not improved"),
        (4, "crash", "exit code 2"), (5, "keep", "improved")]
    best = logged[-1]["full_commit"]
    lines = done.stdout.splitlines()
    assert lines[0] == (f"created branch autoresearch/four at {start_commit[:7]} (your tree "
                        "stays on main; 'git switch autoresearch/four' to follow along)")
    assert lines[1] == "baseline val_bpb: 1.000000"
    assert re.fullmatch(rf"#2    {logged[1]['commit']}  val_bpb 0\.800000  -0\.200000  "
                        r"keep \(improved\)  \d+\.\ds  lower to 0\.8", lines[2])
    assert re.fullmatch(rf"#4    {logged[3]['commit']}  val_bpb crash  —  "
                        r"crash \(exit code 2\)  \d+\.\ds  exit early", lines[4])
    assert lines[-1] == (f"stopped after 4 iterations: 4 experiments, 2 kept; "
                         f"best val_bpb 0.500000 ({best[:7]})")
    assert tsv_rows(project) == [
        [start_commit[:7], "val_bpb", "1.000000", "keep", "baseline"],
        [logged[1]["commit"], "val_bpb", "0.800000", "keep", "lower to 0.8"],
        [logged[2]["commit"], "val_bpb", "0.900000", "discard", "raise to 0.9"],
        [logged[3]["commit"], "val_bpb", "0.000000", "crash", "exit early"],
        [best[:7], "val_bpb", "0.500000", "keep", "lower to 0.5"]]
    assert actions(project) == (["experiment_done", "session_start"]
                                + ["experiment_start", "experiment_done"] * 4 + ["session_end"])
    end = records(project)[-1]["details"]
    assert (end["experiments"], end["kept"], end["discarded"], end["crashed"]) == (4, 2, 1, 1)

    assert_clean_at(project, "autoresearch/four", best, start_commit)
    assert git(project, "rev-parse", "main") == start_commit
    assert git(project, "log", "--format=%s", "main..autoresearch/four").splitlines() == [
        "experiment: lower to 0.5", "experiment: lower to 0.8"]
    for discarded in logged[2:4]:
        assert git(project, "cat-file", "-t", discarded["full_commit"]) == "commit"
        assert git(project, "log", "-1", "--format=%s", discarded["full_commit"]) == \
            f"experiment: {discarded['description']}"
        assert not is_ancestor(project, discarded["full_commit"], "autoresearch/four")
    kept = [start_commit, logged[1]["full_commit"], logged[1]["full_commit"],
            logged[1]["full_commit"]]
    assert agent_saw(tmp_path) == [at(project, sha) for sha in kept]
    for state in agent_states(tmp_path):  # a copy of the project: no repository, no logs
        assert state["repo"] == "" and state["files"] == ["autoresearch.yaml", "prepare.py",
                                                          "train.py"]


def test_misbehaving_agents_are_contained_and_logged(tmp_path: Path):
    """Only the target crosses back from the agent's copy: other files it wrote are listed
    and dropped; a deleted target is rejected; no change, a hang or an exit are agent
    failures, not experiments."""
    plan = [
        {"write": {"train.py": train_py(0.1), "prepare.py": "# easier\n"}, "say": "readonly"},
        {"write": {"train.py": train_py(0.05), "notes.txt": "mine\n"}, "say": "second file"},
        {"delete": ["train.py"], "say": "delete target"},
        {"say": "nothing"},
        {"write": {"train.py": train_py(0.01)}, "sleep": 60, "say": "hang"},
        {"write": {"train.py": train_py(0.01), "junk.txt": "x\n"}, "exit": 1, "say": "exit 1"},
        write(0.5, "fine"),
    ]
    project = make_project(tmp_path, train_py(1.0), plan, agent_timeout=2)
    start_commit = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--tag", "bad", "--iterations", "4")
    assert done.returncode == 0, done.stderr

    logged = experiments(project)[1:]
    assert [(d["description"], d["status"], d["reason"]) for d in logged] == [
        ("readonly", "keep", "improved"), ("second file", "keep", "improved"),
        ("delete target", "crash", "rejected: the target file train.py was deleted"),
        ("fine", "discard", "not improved")]
    assert logged[0]["ignored_files"] == ["prepare.py"]
    assert logged[1]["ignored_files"] == ["notes.txt"]
    assert logged[2]["commit"] == "0000000" and logged[2]["value"] == 0
    failures = [r for r in records(project) if r["action"] == "agent_failed"]
    assert [(r["details"]["error"], r["details"]["consecutive"]) for r in failures] == [
        ("the agent made no change to train.py", 1), ("command timed out after 2 s", 2),
        ("agent command exited with code 1", 3)]
    kept = logged[1]["full_commit"]
    assert at(project, kept, "prepare.py") == PREPARE  # the run used the real prepare.py
    assert git(project, "diff", "--name-only", start_commit, kept) == "train.py"
    assert_clean_at(project, "autoresearch/bad", kept, start_commit)
    assert (project / "prepare.py").read_text() == PREPARE
    assert not (project / "notes.txt").exists() and not (project / "junk.txt").exists()


def test_too_many_agent_failures_in_a_row_stop_with_exit_4(tmp_path: Path):
    plan = [{"write": {"train.py": train_py(0.1)}, "exit": 1}] * 3
    project = make_project(tmp_path, train_py(1.0), plan)
    baseline = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--tag", "fails", "--iterations", "3",
               "--agent-max-failures", "2")
    assert done.returncode == 4
    agent_dir = project / ".git" / "autoresearch" / "root" / "agent" / "w1"
    assert done.stderr.splitlines()[-1] == (
        "autoresearch: error: agent 'command' failed 2 times in a row; last: agent command "
        f"exited with code 1 (details in {agent_dir})")
    assert agent_calls(tmp_path) == 2
    assert actions(project).count("agent_failed") == 2
    assert "session_end" not in actions(project)
    assert_clean_at(project, "autoresearch/fails", baseline, baseline)


def test_a_crashed_baseline_stops_the_loop_before_any_agent_call(tmp_path: Path):
    project = make_project(tmp_path, "raise SystemExit(1)\n", [write(0.5, "fixed")])
    start_commit = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--tag", "broken", "--iterations", "2")
    assert done.returncode == 7
    log = project / ".git" / "autoresearch" / "root" / "runs" / start_commit / "1" / "run.log"
    assert done.stderr == (f"autoresearch: error: no working baseline: commit "
                           f"{start_commit[:7]} crashes (exit code 1); fix it (see {log}), "
                           "then run again\n")
    assert [(d["status"], d["reason"]) for d in experiments(project)] == [
        ("crash", "exit code 1")]
    assert agent_calls(tmp_path) == 0

    (project / "train.py").write_text(train_py(1.0))  # the user fixes it
    git(project, "commit", "-qam", "fix")
    git(project, "branch", "-f", "autoresearch/broken", "HEAD")
    again = cli(project, "loop", "--iterations", "1")
    assert again.returncode == 0, again.stderr
    assert [(d["status"], d["reason"]) for d in experiments(project)] == [
        ("crash", "exit code 1"), ("keep", "baseline"), ("keep", "improved")]


# -- interruption and recovery ------------------------------------------------------------------


def run_phase_train(marker: Path) -> str:
    return ("import os, pathlib, time\n"
            f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
            "time.sleep(60)\n")


@pytest.mark.parametrize("phase", ["agent", "run"])
@pytest.mark.parametrize(("signum", "code"), [pytest.param(signal.SIGINT, 130, id="SIGINT"),
                                              pytest.param(signal.SIGTERM, 143, id="SIGTERM")])
def test_a_signal_restores_the_best_commit_and_the_next_loop_resumes(
        tmp_path: Path, phase: str, signum: int, code: int):
    marker = tmp_path / "marker"
    if phase == "agent":
        busy = {"write": {"train.py": train_py(0.1), "scratch.txt": "wip\n"},
                "marker": str(marker), "sleep": 60, "say": "slow agent"}
    else:
        busy = {"write": {"train.py": run_phase_train(marker)}, "say": "slow run"}
    plan = [write(0.8, "lower to 0.8"), busy, write(0.5, "lower to 0.5")]
    project = make_project(tmp_path, train_py(1.0), plan)

    proc = start(project, "loop", "--tag", "sig", "--iterations", "3")
    wait_for(marker, proc)
    busy_pid = int(marker.read_text())
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == code, err
    best = experiments(project)[-1]
    assert best["description"] == "lower to 0.8"
    assert out.splitlines()[-1] == (f"interrupted: stopped what was running; the best is "
                                    f"{best['commit']} on autoresearch/sig")
    assert_clean_at(project, "autoresearch/sig", best["full_commit"])
    assert gone(busy_pid)
    interrupted = records(project)[-1]
    assert (interrupted["action"], interrupted["status"]) == ("interrupted", "fail")
    assert interrupted["details"]["signal"] == signal.Signals(signum).name
    assert interrupted["details"]["experiments"] == 1

    again = cli(project, "loop", "--iterations", "1")
    assert again.returncode == 0, again.stderr
    logged = experiments(project)
    assert [d["number"] for d in logged] == [1, 2, 3]
    assert [d["description"] for d in logged] == ["baseline", "lower to 0.8", "lower to 0.5"]
    assert len({d["full_commit"] for d in logged}) == 3
    assert len(tsv_rows(project)) == 3
    assert actions(project).count("interrupted") == 1
    assert_clean_at(project, "autoresearch/sig", logged[-1]["full_commit"])


def test_a_hard_kill_during_the_run_is_measured_by_the_next_loop(tmp_path: Path):
    marker = tmp_path / "marker"
    once = ("import os, pathlib, time\n"
            f"MARK = pathlib.Path({str(marker)!r})\n"
            "if not MARK.exists():\n"
            "    MARK.write_text(str(os.getpid()))\n"
            "    time.sleep(60)\n" + train_py(0.5))
    plan = [{"write": {"train.py": once}, "say": "killed mid-run"}, write(0.7, "raise it")]
    project = make_project(tmp_path, train_py(1.0), plan)

    start_commit = git(project, "rev-parse", "HEAD")
    kill_mid_phase(project, "kill", marker)
    pending = list((state_dir(project) / "pending").glob("*.json"))
    assert len(pending) == 1  # committed, noted, not yet logged
    committed = pending[0].stem
    assert git(project, "log", "-1", "--format=%s", committed) == "experiment: killed mid-run"
    assert git(project, "rev-parse", "HEAD") == start_commit  # the user's tree: untouched
    assert [d["description"] for d in experiments(project)] == ["baseline"]

    resumed = cli(project, "loop", "--iterations", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert (f"resuming: measuring experiment {committed[:7]} that was committed but never "
            "logged") in resumed.stdout
    assert agent_calls(tmp_path) == 1
    again = cli(project, "loop", "--iterations", "1")
    assert again.returncode == 0, again.stderr

    logged = experiments(project)
    assert [d["full_commit"] for d in logged].count(committed) == 1
    measured = next(d for d in logged if d["full_commit"] == committed)
    assert (measured["description"], measured["status"], measured["value"]) == (
        "killed mid-run", "keep", 0.5)
    assert [row[0] for row in tsv_rows(project)].count(committed[:7]) == 1
    assert [d["number"] for d in logged] == [1, 2, 3]
    assert_clean_at(project, "autoresearch/kill", committed)


def test_a_hard_kill_during_the_agent_is_cleaned_up_by_the_next_loop(tmp_path: Path):
    marker = tmp_path / "marker"
    plan = [{"write": {"train.py": train_py(0.1), "scratch.txt": "wip\n"},
             "marker": str(marker), "sleep": 60},
            write(0.5, "lower to 0.5")]
    project = make_project(tmp_path, train_py(1.0), plan)
    baseline = git(project, "rev-parse", "HEAD")

    kill_mid_phase(project, "agentkill", marker)
    assert git_run(project, "status", "--porcelain").stdout == ""  # it worked in a copy
    assert (project / "train.py").read_text() == train_py(1.0)
    copies = state_dir(project) / "agent" / "copies"
    assert any(copies.iterdir())  # the killed call's copy is still there

    resumed = cli(project, "loop", "--iterations", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert agent_saw(tmp_path)[1] == at(project, baseline)
    assert not any(copies.iterdir())
    logged = experiments(project)
    assert [(d["number"], d["description"]) for d in logged] == [(1, "baseline"),
                                                                  (2, "lower to 0.5")]
    assert_clean_at(project, "autoresearch/agentkill", logged[-1]["full_commit"])


# -- bounds, summary, lock ---------------------------------------------------------------------


def test_max_time_stops_the_loop(tmp_path: Path):
    plan = [write(1.0 + step / 100, f"try {step}", sleep=0.3) for step in range(1, 60)]
    project = make_project(tmp_path, train_py(1.0), plan)
    done = cli(project, "loop", "--tag", "timed", "--max-time", "1s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("stopped after max time 1 s: ")
    end = records(project)[-1]
    assert end["action"] == "session_end" and end["details"]["stopped"] == "max time 1 s"
    assert end["details"]["experiments"] == len(experiments(project)) - 1


@pytest.mark.parametrize("quiet", [[], ["--quiet"]], ids=["progress", "quiet"])
def test_json_prints_a_parseable_summary(tmp_path: Path, quiet: list[str]):
    project = make_project(tmp_path, train_py(1.0), [write(0.8, "lower"), write(0.9, "raise")])
    done = cli(project, "loop", "--tag", "js", "--iterations", "2", "--json", *quiet)
    assert done.returncode == 0, done.stderr
    progress = done.stderr.splitlines()
    if quiet:
        assert progress == []
    else:  # on stderr, so that stdout is the summary alone
        assert progress[0].startswith("created branch autoresearch/js at ")
        assert progress[-1].startswith("stopped after 2 iterations: 2 experiments, 1 kept;")
    summary = json.loads(done.stdout)
    assert summary == {"stopped": "2 iterations", "experiments": 2, "kept": 1, "discarded": 1,
                       "crashed": 0, "cost_usd": 0.0, "baseline": 1.0, "best": 0.8,
                       "best_commit": git(project, "rev-parse", "autoresearch/js")}


def test_a_second_loop_on_the_same_repository_exits_5(tmp_path: Path):
    marker = tmp_path / "marker"
    project = make_project(tmp_path, train_py(1.0), [{"marker": str(marker), "sleep": 60}])
    first = start(project, "loop", "--tag", "lock", "--iterations", "1")
    try:
        wait_for(marker, first)
        logged_before = records(project)
        second = cli(project, "loop", "--iterations", "1")
        assert second.returncode == 5
        assert second.stderr == (
            f"autoresearch: error: another autoresearch loop (pid {first.pid}) is running in "
            f"{project}; stop it first or wait for it to finish\n")
        assert records(project) == logged_before
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143


def test_a_pending_candidate_that_git_gc_pruned_is_dropped_with_a_line(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), [write(0.8, "lower")])
    assert cli(project, "setup", "--tag", "gc").returncode == 0
    gone_sha = "ab" * 20
    pending = state_dir(project) / "pending"
    pending.mkdir(exist_ok=True)
    (pending / f"{gone_sha}.json").write_text(json.dumps({
        "description": "pruned", "base": gone_sha, "commit": gone_sha, "worker": 1}))
    done = cli(project, "loop", "--tag", "gc", "-n", "1")
    assert done.returncode == 0, done.stderr
    assert (f"resuming: dropped experiment {gone_sha[:7]}, which is no longer in the "
            "repository (git gc)") in done.stderr
    assert not (pending / f"{gone_sha}.json").exists()
    assert [d["description"] for d in experiments(project)] == ["baseline", "lower"]
