"""finalize --verify and --split on a history the real loop made: a real improvement, a
simplification and a lucky keep.

The run command is an evaluator outside the project that counts its runs in a file beside
the repository (outside every tree) and, on the 5th run only, reports 0.1 better than
train.py prints: the loop's 5th run is the lucky keep's, so the keep only looked good once.
Every measurement of --verify is a fresh run, so the luck is found out.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from helpers import PY, cli, experiments, git, make_project

TAG = "luck"
FINAL = f"autoresearch/{TAG}-final"
LUCKY_RUN = 5
EVALUATE = f'''
import pathlib, re, subprocess, sys
common = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True,
                        text=True, check=True).stdout.strip()
counter = pathlib.Path(common).resolve().parent.parent / "runs.count"
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
if counter.with_name("crash").exists():
    sys.exit("the evaluator was told to crash")
out = subprocess.run([sys.executable, "train.py"], capture_output=True, text=True,
                     check=True).stdout
value = float(re.search(r"val_bpb: ([0-9.]+)", out).group(1))
print(f"val_bpb: {{value - (0.1 if n == {LUCKY_RUN} else 0.0):.6f}}")
'''


def train(value: float, *, unused: bool = True, beta: bool = False) -> str:
    """train.py: an unused line (a simplification removes it), the value, an unused constant
    at the end (the lucky keep adds it)."""
    return (f"# a tiny model\n{'UNUSED = 1' if unused else ''}\n\nVALUE = {value}\n\n"
            f"print(f'val_bpb: {{VALUE:.6f}}')\n{'BETA = 0.9' if beta else ''}\n")


START = train(1.0)
PLAN = [{"write": {"train.py": train(0.8)}, "say": "lower the value to 0.8"},
        {"write": {"train.py": train(0.8, unused=False)}, "say": "remove an unused line"},
        {"write": {"train.py": train(0.9, unused=False)}, "say": "raise it to 0.9"},
        {"write": {"train.py": train(0.8, unused=False, beta=True)},
         "say": "add an unused constant"}]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """The sandbox of a loop of four experiments: keep (real), keep (simpler), discard,
    keep (lucky)."""
    tmp = tmp_path_factory.mktemp("history")
    (tmp / "evaluate.py").write_text(EVALUATE)
    project = make_project(tmp, START, PLAN,
                           run_command=f"{shlex.quote(PY)} {tmp / 'evaluate.py'}")
    done = cli(project, "loop", "--tag", TAG, "--iterations", "4")
    assert done.returncode == 0, done.stderr
    logged = [(d["status"], d["reason"], d["value"]) for d in experiments(project)]
    assert logged == [("keep", "baseline", 1.0), ("keep", "improved", 0.8),
                      ("keep", "simpler", 0.8), ("discard", "not improved", 0.9),
                      ("keep", "improved", 0.7)]
    return tmp


@pytest.fixture
def project(history: Path, tmp_path: Path) -> Path:
    """A copy of the history's sandbox (the run counter included) for one test."""
    copy = tmp_path / "sandbox"
    shutil.copytree(history, copy, symlinks=True)
    return copy / "project"


def runs(project: Path) -> int:
    return int((project.parent / "runs.count").read_text())


def show(project: Path, rev: str, path: str = "train.py") -> str:
    return git(project, "show", f"{rev}:{path}")


def kept_commits(project: Path) -> list[str]:
    return [d["full_commit"] for d in experiments(project) if d["status"] == "keep"]


def test_verify_drops_the_lucky_keep_and_keeps_the_others(project):
    start, real, simpler, lucky = kept_commits(project)
    before = runs(project)
    done = cli(project, "finalize", "--verify")
    assert done.returncode == 0, done.stderr
    assert runs(project) == before + 4  # the final tree, then without each change: fresh runs
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#  commit"))
    assert lines[header].split() == ["#", "commit", "contribution", "noise", "floor",
                                     "verdict", "description"]
    rows = [line.split() for line in lines[header + 1:header + 4]]
    assert rows[0] == ["5", lucky[:7], "+0", "±0", "drop", "(within", "noise", "floor)", "add",
                       "an", "unused", "constant"]
    assert rows[1][:6] == ["3", simpler[:7], "+0", "±0", "keep", "(simpler)"]
    assert rows[2][:6] == ["2", real[:7], "+0.2", "±0", "keep", "(contributes)"]
    assert (f"created branch {FINAL}: one commit" in done.stdout
            and "without the 1 change dropped (val_bpb 1 → 0.8 measured again, -20.00%; "
                "2 of 3 kept changes verified)" in done.stdout)
    assert git(project, "rev-list", "--count", f"{start}..{FINAL}") == "1"
    assert git(project, "rev-parse", f"{FINAL}^") == start
    assert show(project, FINAL) == train(0.8, unused=False).rstrip("\n")
    message = git(project, "log", "-1", "--format=%B", FINAL)
    assert message.splitlines()[0] == f"autoresearch {TAG}: val_bpb 1 → 0.8 (-20.00%)"
    assert "- lower the value to 0.8 (-0.2)" in message
    assert "- remove an unused line (+0, simpler)" in message
    assert "- add an unused constant (within noise floor, contribution +0)" in message
    assert git(project, "rev-parse", f"autoresearch/{TAG}") == lucky  # untouched
    assert git(project, "status", "--porcelain") == ""


def test_verify_with_split_branches_only_the_survivors(project):
    start, real, simpler, _ = kept_commits(project)
    done = cli(project, "finalize", "--verify", "--split")
    assert done.returncode == 0, done.stderr
    branches = {f"{FINAL}-2-lower-the-value-to-0-8": train(0.8),
                f"{FINAL}-3-remove-an-unused-line": train(1.0, unused=False)}
    assert f"--split: 2 branches, one commit each on the starting point {start[:7]}:" \
        in done.stdout
    assert f"  {FINAL}-2-lower-the-value-to-0-8  #2 {real[:7]} lower the value to 0.8" \
        in done.stdout
    assert git(project, "branch", "--list", f"{FINAL}-*").split() == sorted(branches)
    for branch, text in branches.items():
        assert git(project, "rev-parse", f"{branch}^") == start
        assert show(project, branch) == text.rstrip("\n")


def test_split_without_verify_branches_every_kept_change_alone(project):
    start, _, _, lucky = kept_commits(project)
    before = runs(project)
    done = cli(project, "finalize", "--split")
    assert done.returncode == 0, done.stderr
    assert runs(project) == before  # nothing is measured without --verify
    branches = {f"{FINAL}-2-lower-the-value-to-0-8": train(0.8),
                f"{FINAL}-3-remove-an-unused-line": train(1.0, unused=False),
                f"{FINAL}-5-add-an-unused-constant": train(1.0, beta=True)}
    assert git(project, "branch", "--list", f"{FINAL}-*").split() == sorted(branches)
    for branch, text in branches.items():
        assert git(project, "rev-parse", f"{branch}^") == start
        assert show(project, branch) == text.rstrip("\n")
        assert git(project, "log", "-1", "--format=%s", branch).startswith(f"autoresearch {TAG}: ")
    assert git(project, "rev-parse", f"{FINAL}^{{tree}}") == git(project, "rev-parse",
                                                                f"{lucky}^{{tree}}")
    again = cli(project, "finalize", "--split")
    assert again.returncode == 0 and again.stdout.startswith(f"replaced branch {FINAL}")


def test_a_final_tree_that_no_longer_runs_is_a_one_line_error(project):
    (project.parent / "crash").write_text("")
    done = cli(project, "finalize", "--verify")
    best = kept_commits(project)[-1]
    assert done.returncode == 7
    assert done.stderr == (f"autoresearch: error: the best commit {best[:7]} crashed when "
                           "measured again (see run.log): finalize --verify needs a final "
                           "tree that runs\n")
    assert git(project, "branch", "--list", FINAL) == ""
    assert git(project, "worktree", "list").count("\n") == 0  # finalize's worktree is gone
