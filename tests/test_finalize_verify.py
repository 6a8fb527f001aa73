"""finalize --verify and --split on a history the real loop made: one real improvement, one
lucky keep.

The run command is an evaluator outside the project that counts its runs in a file beside
the repository (outside every tree) and, on the 4th run only, reports 0.1 better than
train.py prints: the loop's 4th run is the lucky keep's, so the keep only looked good once.
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
LUCKY_RUN = 4
EVALUATE = f'''
import pathlib, re, subprocess, sys
common = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True,
                        text=True, check=True).stdout.strip()
counter = pathlib.Path(common).resolve().parent.parent / "runs.count"
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
out = subprocess.run([sys.executable, "train.py"], capture_output=True, text=True,
                     check=True).stdout
value = float(re.search(r"val_bpb: ([0-9.]+)", out).group(1))
print(f"val_bpb: {{value - (0.1 if n == {LUCKY_RUN} else 0.0):.6f}}")
'''
PRINT = "print(f'val_bpb: {VALUE:.6f}')\n"
START = f"# a tiny model\nVALUE = 1.0\n\n{PRINT}"
REAL = f"# a tiny model\nVALUE = 0.8\n\n{PRINT}"
WORSE = f"# a tiny model\nVALUE = 0.9\n\n{PRINT}"
LUCKY = f"{REAL}BETA = 0.9\n"  # an unused constant: changes nothing
LUCKY_ALONE = f"{START}BETA = 0.9\n"
PLAN = [{"write": {"train.py": REAL}, "say": "lower the value to 0.8"},
        {"write": {"train.py": WORSE}, "say": "raise it to 0.9"},
        {"write": {"train.py": LUCKY}, "say": "add an unused constant"}]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """The sandbox of a loop of three experiments: keep (real), discard, keep (lucky)."""
    tmp = tmp_path_factory.mktemp("history")
    (tmp / "evaluate.py").write_text(EVALUATE)
    project = make_project(tmp, START, PLAN,
                           run_command=f"{shlex.quote(PY)} {tmp / 'evaluate.py'}")
    done = cli(project, "loop", "--tag", TAG, "--iterations", "3")
    assert done.returncode == 0, done.stderr
    logged = [(d["status"], d["value"]) for d in experiments(project)]
    assert logged == [("keep", 1.0), ("keep", 0.8), ("discard", 0.9), ("keep", 0.7)]
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


def test_verify_drops_the_lucky_keep_and_keeps_the_real_one(project):
    start, real, lucky = kept_commits(project)
    before = runs(project)
    done = cli(project, "finalize", "--verify")
    assert done.returncode == 0, done.stderr
    assert runs(project) == before + 3  # the final tree, then without each change: fresh runs
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#  commit"))
    assert lines[header].split() == ["#", "commit", "contribution", "noise", "floor",
                                     "verdict", "description"]
    assert lines[header + 1].split() == ["4", lucky[:7], "+0", "±0", "drop", "(within",
                                         "noise", "floor)", "add", "an", "unused", "constant"]
    assert lines[header + 2].split()[:5] == ["2", real[:7], "+0.2", "±0", "keep"]
    assert lines[header + 2].split()[5] == "(contributes)"
    assert (f"created branch {FINAL}: one commit" in done.stdout
            and "without the 1 change dropped (val_bpb 1 → 0.8 measured again, -20.00%; "
                "1 of 2 kept changes verified)" in done.stdout)
    assert git(project, "rev-list", "--count", f"{start}..{FINAL}") == "1"
    assert git(project, "rev-parse", f"{FINAL}^") == start
    assert show(project, FINAL) == REAL.rstrip("\n")
    message = git(project, "log", "-1", "--format=%B", FINAL)
    assert message.splitlines()[0] == f"autoresearch {TAG}: val_bpb 1 → 0.8 (-20.00%)"
    assert "- lower the value to 0.8 (-0.2)" in message
    assert "- add an unused constant (within noise floor, contribution +0)" in message
    assert git(project, "rev-parse", f"autoresearch/{TAG}") == lucky  # untouched
    assert git(project, "status", "--porcelain") == ""


def test_verify_with_split_branches_only_the_survivor(project):
    start, real, _ = kept_commits(project)
    done = cli(project, "finalize", "--verify", "--split")
    assert done.returncode == 0, done.stderr
    branch = f"{FINAL}-2-lower-the-value-to-0-8"
    assert f"--split: 1 branch, one commit each on the starting point {start[:7]}:" \
        in done.stdout
    assert f"  {branch}  #2 {real[:7]} lower the value to 0.8" in done.stdout
    assert git(project, "branch", "--list", f"{FINAL}-*").split() == [branch]
    assert git(project, "rev-parse", f"{branch}^") == start
    assert show(project, branch) == REAL.rstrip("\n")


def test_split_without_verify_branches_every_kept_change_alone(project):
    start, _, lucky = kept_commits(project)
    before = runs(project)
    done = cli(project, "finalize", "--split")
    assert done.returncode == 0, done.stderr
    assert runs(project) == before  # nothing is measured without --verify
    branches = {f"{FINAL}-2-lower-the-value-to-0-8": REAL,
                f"{FINAL}-4-add-an-unused-constant": LUCKY_ALONE}
    assert git(project, "branch", "--list", f"{FINAL}-*").split() == sorted(branches)
    for branch, text in branches.items():
        assert git(project, "rev-parse", f"{branch}^") == start
        assert show(project, branch) == text.rstrip("\n")
        assert git(project, "log", "-1", "--format=%s", branch).startswith(f"autoresearch {TAG}: ")
    assert git(project, "rev-parse", f"{FINAL}^{{tree}}") == git(project, "rev-parse",
                                                                f"{lucky}^{{tree}}")
    again = cli(project, "finalize", "--split")
    assert again.returncode == 0 and again.stdout.startswith(f"replaced branch {FINAL}")
