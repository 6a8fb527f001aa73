"""Parallel loops (`loop --jobs N`): workers in git worktrees, one coordinator deciding.

The agent is a stand-in `command` agent: a script that takes the next step of a plan (a
counter file under a lock, so concurrent workers take distinct steps) and sets constants in
train.py. The experiment prints `val_bpb: A + B` after sleeping SLEEP seconds, so the plan
also chooses which candidate finishes first. Every test checks that the logs and the
branch tell one history, and that no work tree is left behind.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import helpers
import pytest
from helpers import agent_states, experiments, git, gone, records, wait_until

from autoresearch import devices
from autoresearch.coordinator import OLDER_BEST
from autoresearch.errors import ConfigError
from autoresearch.git import open_repo

TRAIN = """\
import os, time

A = 0.5

# (kept apart, so that changes to A and to B merge cleanly)

B = 0.5

# how long the experiment takes

SLEEP = 0.1

if os.environ.get("RUN_LOG"):
    with open(os.environ["RUN_LOG"], "a") as log:
        log.write(f"{os.getpid()} {os.getcwd()} {os.environ.get('CUDA_VISIBLE_DEVICES', '-')}\\n")
time.sleep(SLEEP)
print(f"val_bpb: {A + B:.6f}")
"""

AGENT = r'''
import fcntl, json, os, pathlib, re, subprocess, sys
plan_file = pathlib.Path(sys.argv[1])
prompt = sys.stdin.read()
others = prompt.partition("## Other workers are trying these right now")[2].split("\n\n")[0]
with open(plan_file.with_suffix(".lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    calls = plan_file.with_suffix(".calls")
    n = int(calls.read_text()) if calls.exists() else 0
    calls.write_text(str(n + 1))
    with open(plan_file.with_suffix(".states"), "a") as states:
        states.write(json.dumps({"call": n + 1, "cwd": os.getcwd(),
                                 "train": pathlib.Path("train.py").read_text(),
                                 "others": others.strip()}) + "\n")
plan = json.loads(plan_file.read_text())
if n >= len(plan):
    sys.exit(f"agent plan exhausted after {len(plan)} calls")
step = plan[n]
path = pathlib.Path("train.py")
text = path.read_text()
for name, value in step.items():
    text = re.sub(rf"^{name} = .*$", f"{name} = {value!r}", text, flags=re.MULTILINE)
path.write_text(text)
print("set " + ", ".join(f"{k}={v}" for k, v in step.items()) + f" (call {n + 1})")
'''


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    """The sandbox, with every experiment logging its pid, cwd and GPUs to tmp/runs.log."""
    return helpers.environment(tmp, RUN_LOG=str(tmp / "runs.log"), **extra)


def cli(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return helpers.cli(project, *args, env=environment(project.parent, **env), timeout=180)


def make_project(tmp: Path, plan: list[dict], **config) -> Path:
    return helpers.make_project(tmp, TRAIN, plan, agent=AGENT, **config)


def worktree_paths(project: Path) -> list[str]:
    out = git(project, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def pool_entries(project: Path) -> list[Path]:
    pool = helpers.state_dir(project) / "worktrees"
    return sorted(pool.iterdir()) if pool.is_dir() else []


def assert_one_history(project: Path, tag: str, start: str, count: int) -> list[dict]:
    """results.tsv, the JSONL log and the branch agree; nothing is left behind."""
    logged = experiments(project)
    assert [d["number"] for d in logged] == list(range(1, count + 1))
    rows = [line.split("\t") for line in (project / "results.tsv").read_text().splitlines()[1:]]
    assert [(r[0], r[3]) for r in rows] == [(d["commit"], d["status"]) for d in logged]
    commits = [d["full_commit"] for d in logged if d["full_commit"]]
    assert len(commits) == len(set(commits)), "a commit was logged twice"
    keeps = [d for d in logged if d["status"] == "keep"]
    assert keeps[0]["description"] == "baseline" and keeps[0]["full_commit"] == start
    branch = git(project, "rev-list", "--reverse", f"{start}..autoresearch/{tag}").split()
    assert branch == [d["full_commit"] for d in keeps[1:]]
    values = [d["value"] for d in keeps]
    assert all(later < earlier for earlier, later in itertools.pairwise(values)), values
    for earlier, later in itertools.pairwise(keeps):
        assert later["prev"] == earlier["value"]
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == start  # the user's tree never moves
    assert git(project, "rev-parse", f"refs/autoresearch/{tag}/best") == (
        branch[-1] if branch else start)
    assert worktree_paths(project) == [str(project)]
    assert pool_entries(project) == []
    return logged


# -- three workers, nine experiments -----------------------------------------------------------

PLAN = [
    {"A": 0.4, "SLEEP": 0.2},  # 0.9 on the baseline, first to finish: kept
    {"B": 0.45, "SLEEP": 1.2},  # 0.95 on the baseline: beat it, not the best of then
    {"B": 0.3, "SLEEP": 2.0},  # 0.8 on the baseline, beats the best of then: picked, re-run
    {"A": 0.6, "SLEEP": 0.6},  # the others are worse than the best, whatever their base
    {"B": 0.9, "SLEEP": 0.6},
    {"A": 0.7, "SLEEP": 0.6},
    {"B": 0.8, "SLEEP": 0.2},
    {"A": 0.45, "SLEEP": 0.2},
    {"A": 0.5, "SLEEP": 0.2},
]


def test_three_workers_nine_experiments_tell_one_history(tmp_path: Path):
    project = make_project(tmp_path, PLAN)
    start = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--jobs", "3", "--iterations", "9", "--tag", "par", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("autoresearch: warning") == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["experiments"], summary["jobs"]) == (9, 3)

    logged = assert_one_history(project, "par", start, 10)
    assert all(d["worker"] in (1, 2, 3) for d in logged[1:])
    assert {d["worker"] for d in logged[1:]} == {1, 2, 3}
    assert any(d["reason"] == OLDER_BEST for d in logged), [d["reason"] for d in logged]
    rebased = [d for d in logged if d.get("rebased_from")]
    assert rebased and rebased[0]["status"] == "keep"
    assert not rebased[0]["cached"] and not rebased[0]["reused_from"]  # measured again
    assert git(project, "branch", "--list", "autoresearch/*") == "autoresearch/par"

    states = agent_states(tmp_path)
    assert len(states) == 9
    kept = {helpers.at(project, d["full_commit"]) for d in logged if d["status"] == "keep"}
    copies = helpers.state_dir(project) / "agent" / "copies"
    for state in states:  # each call: a copy of its own, of a best of its time
        assert Path(state["cwd"]).parent.parent == copies
        assert state["train"] in kept
    # the prompt names what the other workers are trying (calls 4-7 overlap calls 2 and 3)
    seen = [state["others"] for state in states if state["others"]]
    assert any("set B=0.3, SLEEP=2.0 (call 3)" in others for others in seen), seen
    starts = [r for r in records(project) if r["action"] == "experiment_start"]
    assert {r["details"]["worker"] for r in starts} == {1, 2, 3}
    session = next(r for r in records(project) if r["action"] == "session_start")
    assert (session["details"]["jobs"], session["details"]["workers"]) == (3, 3)


def test_prefetch_prepares_the_next_candidate_while_one_runs(tmp_path: Path):
    plan = [{"A": 0.4, "SLEEP": 0.5}, {"B": 0.4, "SLEEP": 0.5}, {"A": 0.3, "SLEEP": 0.5},
            {"SLEEP": "oops"}]
    project = make_project(tmp_path, plan)
    start = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--prefetch", "-n", "4", "--tag", "pre")
    assert done.returncode == 0, done.stderr
    assert "parallel: 2 workers, 1 experiment(s) at once" in done.stdout
    logged = assert_one_history(project, "pre", start, 5)
    # one slot: the runs never overlap
    assert [d["status"] for d in logged].count("crash") == 1
    assert any(d["reason"].startswith("exit code 1: TypeError") for d in logged)
    session = next(r for r in records(project) if r["action"] == "session_start")
    assert (session["details"]["jobs"], session["details"]["workers"]) == (1, 2)
    assert logged[-1]["number"] == 5


def test_agent_failures_in_a_row_stop_every_worker(tmp_path: Path):
    project = make_project(tmp_path, [], agent_max_failures=3)
    done = cli(project, "loop", "--jobs", "2", "-n", "5", "--tag", "fail")
    assert done.returncode == 4
    assert done.stderr.splitlines()[-1].startswith(
        "autoresearch: error: agent 'command' failed 3 times in a row; last: agent command "
        "exited with code 1")
    assert worktree_paths(project) == [str(project)]
    assert pool_entries(project) == []
    assert git(project, "status", "--porcelain") == ""
    failed = [r["details"] for r in records(project) if r["action"] == "agent_failed"]
    assert [d["consecutive"] for d in failed] == [1, 2, 3]


# -- stopping and leftovers ---------------------------------------------------------------------

def wait_for_runs(log: Path, count: int, proc: subprocess.Popen) -> list[list[str]]:
    """The runs.log lines of experiments running in work trees, once there are ``count``."""
    def running() -> list[list[str]]:
        lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
        running = [line for line in lines if "/autoresearch/root/worktrees/w" in line[1]
                   and not line[1].endswith("/w0")]  # w0 ran the baseline
        return running if len(running) >= count else []

    return wait_until(running, proc, f"{count} of the workers' experiments started")


def test_sigint_stops_the_workers_and_removes_every_worktree(tmp_path: Path):
    project = make_project(tmp_path, [{"A": 0.4, "SLEEP": 120}, {"B": 0.4, "SLEEP": 120}])
    start = git(project, "rev-parse", "HEAD")
    proc = helpers.start(project, "loop", "--jobs", "2", "--tag", "sig",
                         env=environment(tmp_path))
    running = wait_for_runs(tmp_path / "runs.log", 2, proc)
    assert len(worktree_paths(project)) == 4  # the project, the baseline's and two workers'

    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - began < 20
    assert "interrupted: stopped what was running" in out
    for line in running:
        assert gone(int(line[0])), f"experiment {line[0]} still runs"
    assert len(running) >= 2
    assert worktree_paths(project) == [str(project)]
    assert pool_entries(project) == []
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == start
    assert records(project)[-1]["action"] == "interrupted"
    assert [d["number"] for d in experiments(project)] == [1]


def test_worktrees_of_a_killed_loop_are_removed_on_the_next_start(tmp_path: Path):
    plan = [{"A": 0.4}, {"B": 0.4}, {"A": 0.3}, {"B": 0.3}]
    project = make_project(tmp_path, plan)
    start = git(project, "rev-parse", "HEAD")
    killed = cli(project, "loop", "--jobs", "2", "-n", "2", "--tag", "kill",
                 AUTORESEARCH_KILL_AT="run_start", AUTORESEARCH_KILL_AFTER="1")
    assert killed.returncode == -signal.SIGKILL
    assert len(worktree_paths(project)) >= 3
    assert len(pool_entries(project)) >= 2

    done = cli(project, "loop", "-n", "1", "--tag", "kill")
    assert done.returncode == 0, done.stderr
    # the killed loop's committed candidates are measured and logged too: none is lost
    logged = assert_one_history(project, "kill", start, len(experiments(project)))
    assert len(logged) in (2, 3)


def test_a_keep_fast_forwarded_but_not_logged_is_logged_on_the_next_start(tmp_path: Path):
    plan = [{"A": 0.4, "SLEEP": 0.2}, {"A": 0.6, "SLEEP": 1.0}, {"B": 0.7}]
    project = make_project(tmp_path, plan)
    start = git(project, "rev-parse", "HEAD")
    killed = cli(project, "loop", "--jobs", "2", "-n", "2", "--tag", "ff",
                 AUTORESEARCH_KILL_AT="before_log")
    assert killed.returncode == -signal.SIGKILL
    moved = git(project, "rev-parse", "refs/autoresearch/ff/best")
    assert moved != start and git(project, "rev-parse", f"{moved}^") == start
    assert [d["number"] for d in experiments(project)] == [1]

    done = cli(project, "loop", "-n", "1", "--tag", "ff")
    assert done.returncode == 0, done.stderr
    assert f"resuming: measuring experiment {moved[:7]} that was committed but never logged" \
        in done.stdout
    # both workers' candidates were committed: both are measured and logged, none is lost
    logged = assert_one_history(project, "ff", start, 3)
    recovered = next(d for d in logged if d["full_commit"] == moved)
    assert (recovered["status"], recovered["description"]) == (
        "keep", "set A=0.4, SLEEP=0.2 (call 1)")
    assert recovered["cached"]  # the worker had measured it


# -- devices and a cluster runner -----------------------------------------------------------

SRUN = """\
#!/bin/sh
# stand-in for Slurm's srun: check the options, then run what follows "--" right here
[ "$1" = "--gres=gpu:1" ] && [ "$2" = "--time=15" ] && [ "$3" = "--" ] || {
  echo "srun: unexpected arguments: $*" >&2; exit 2; }
shift 3
echo "$(pwd) $*" >> "$SRUN_LOG"
exec "$@"
"""


def test_runner_prefix_runs_each_experiment_through_a_stand_in_srun(tmp_path: Path):
    plan = [{"A": 0.4}, {"B": 0.4}, {"A": 0.3}]
    project = make_project(tmp_path, plan, runner="srun --gres=gpu:1 --time=15 --")
    start = git(project, "rev-parse", "HEAD")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(SRUN)
    (bin_dir / "srun").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "SRUN_LOG": str(tmp_path / "srun.log")}

    done = cli(project, "loop", "--jobs", "2", "--gpus", "0,1", "-n", "3", "--tag", "slurm",
               **env)
    assert done.returncode == 0, done.stderr
    logged = assert_one_history(project, "slurm", start, 4)
    assert [d["status"] for d in logged].count("crash") == 0
    calls = (tmp_path / "srun.log").read_text().splitlines()
    assert len(calls) >= 4  # the baseline and every experiment (a re-measure adds one)
    assert all(" /bin/sh -c " in f" {call} " for call in calls)
    assert sum("/autoresearch/root/worktrees/w" in call.split()[0] for call in calls) >= 3
    runs = [line.split() for line in (tmp_path / "runs.log").read_text().splitlines()]
    in_workers = [run for run in runs if "/autoresearch/root/worktrees/w" in run[1]
                  and not run[1].endswith("/w0")]  # w0: the baseline's, no GPU of its own
    assert in_workers and {run[2] for run in in_workers} <= {"0", "1"}


def test_gpus_all_asks_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "nvidia-smi").write_text(
        "#!/bin/sh\n[ \"$1\" = -L ] || exit 9\n"
        "echo 'GPU 0: NVIDIA A100 (UUID: GPU-aaaa)'\necho 'GPU 1: NVIDIA A100 (UUID: GPU-bbbb)'\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    plan = devices.plan({"gpus": "all"})
    assert (plan.jobs, plan.workers, plan.devices) == (2, 2, ("0", "1"))
    assert devices.plan({"gpus": "all", "jobs": 1, "prefetch": True}) == devices.Plan(
        1, 2, ("0",))
    assert devices.environment("1") == {"CUDA_VISIBLE_DEVICES": "1"}


def test_plans_without_gpus_and_bad_options():
    assert devices.plan({}) == devices.Plan(1, 1, (None,))
    assert devices.plan({"jobs": 3}) == devices.Plan(3, 3, (None, None, None))
    assert devices.plan({"gpus": "2,3"}) == devices.Plan(2, 2, ("2", "3"))
    with pytest.raises(ConfigError, match=r"--jobs 3 needs one GPU per job but --gpus gives 2"):
        devices.plan({"gpus": "0,1", "jobs": 3})
    with pytest.raises(ConfigError, match=r"--gpus '0,,1' is not a list of distinct GPU ids"):
        devices.plan({"gpus": "0,,1"})
    with pytest.raises(ConfigError, match=r"--jobs -2 must be a whole number >= 1"):
        devices.plan({"jobs": -2})


def test_cli_refuses_more_jobs_than_gpus(tmp_path: Path):
    project = make_project(tmp_path, [])
    done = cli(project, "loop", "--jobs", "3", "--gpus", "0,1", "-n", "1")
    assert done.returncode == 2
    assert done.stderr == ("autoresearch: error: --jobs 3 needs one GPU per job but --gpus "
                           "gives 2 (0,1); use --jobs 2 or list more GPUs\n")


# -- git: candidates made with plumbing and moved onto a newer best -------------------------

def test_a_candidate_moves_onto_a_newer_best_without_touching_any_tree(tmp_path: Path):
    project = make_project(tmp_path, [])
    (project / "notes.txt").write_text("the user's\n")
    env = environment(tmp_path)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with open_repo(project) as repo:
            base = repo.head_sha()
            mode = repo.entry(base, "train.py").git_mode
            candidate = repo.commit_with(
                base, {"train.py": (mode, TRAIN.replace("B = 0.5", "B = 0.1").encode())},
                "experiment: B")
            best = repo.commit_with(
                base, {"train.py": (mode, TRAIN.replace("A = 0.5", "A = 0.2").encode())},
                "experiment: A")
            merged = repo.merge_text(repo.file_at(best, "train.py"),
                                     repo.file_at(base, "train.py"),
                                     repo.file_at(candidate, "train.py")).decode()
            assert "A = 0.2" in merged and "B = 0.1" in merged
            conflict = repo.merge_text(b"x = 1\n", b"x = 0\n", b"x = 2\n")
            assert conflict == b"x = 2\n"  # the candidate's hunk wins a conflict
            assert repo.changed_paths(base, candidate) == ["train.py"]
            assert repo.head_sha() == base and repo.status() == [
                helpers_change("??", "notes.txt")]
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def helpers_change(code: str, path: str):
    from autoresearch.git import Change

    return Change(code, path)
