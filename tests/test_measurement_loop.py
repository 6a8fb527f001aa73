"""Honest measurement in a real loop: the sealed holdout, the re-measured best, paired
comparisons and seed-only changes, each on a fixture whose truth is known."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import PY, cli, experiments, git, make_project, records

AGENT_CHECKS = r'''
import json, os, pathlib, re, sys
plan_file = pathlib.Path(sys.argv[1])
calls = plan_file.with_suffix(".calls")
n = int(calls.read_text()) if calls.exists() else 0
calls.write_text(str(n + 1))
with open(plan_file.with_suffix(".seen"), "a") as seen:
    prompt = sys.stdin.read()
    seen.write(json.dumps({"holdout_visible": pathlib.Path("holdout").exists(),
                           "prompt_shows_holdout": "holdout/" in prompt or "secret" in prompt})
               + "\n")
plan = json.loads(plan_file.read_text())
if n >= len(plan):
    sys.exit("plan exhausted")
text = pathlib.Path("train.py").read_text()
for name, value in plan[n].items():
    text = re.sub(rf"^{name} = .*$", f"{name} = {value}", text, flags=re.M)
pathlib.Path("train.py").write_text(text)
print("set " + ", ".join(f"{k}={v}" for k, v in plan[n].items()))
'''


def project_with(tmp: Path, train: str, plan: list[dict], files: dict[str, str] | None = None,
                 **config: object) -> Path:
    """A project whose agent (AGENT_CHECKS) sets the plan's constants and records what its
    copy and its prompt showed it; ``files`` are committed with it."""
    project = make_project(tmp, train, plan, agent=AGENT_CHECKS, **config)
    for path, text in (files or {}).items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    if files:
        git(project, "add", "-A")
        git(project, "commit", "-qm", "fixture")
    return project


# -- the sealed holdout --------------------------------------------------------------------

TRAIN_K = "K = 1\nprint(f'val_bpb: {10 / K:.6f}')\n"
HOLDOUT = ("import re\nk = int(re.search(r'K = (\\d+)', open('train.py').read()).group(1))\n"
           "secret = float(open('holdout/secret.txt').read())\n"
           "print(f'holdout: {(k - secret) ** 2:.6f}')\n")


def test_the_holdout_stops_the_loop_where_raising_the_constant_starts_to_hurt(tmp_path):
    plan = [{"K": 2}, {"K": 3}, {"K": 4}, {"K": 5}]
    project = project_with(tmp_path, TRAIN_K, plan,
                           files={"holdout/eval.py": HOLDOUT, "holdout/secret.txt": "3\n"},
                           holdout_command=f"{PY} holdout/eval.py", holdout_files="holdout")
    done = cli(project, "loop", "-n", "4", "--tag", "h")
    assert done.returncode == 0, done.stderr
    logged = experiments(project)
    assert [(d["status"], d["reason"]) for d in logged] == [
        ("keep", "baseline"), ("keep", "improved"), ("keep", "improved"),
        ("discard", "holdout regressed"), ("discard", "holdout regressed")]
    assert [d.get("holdout") for d in logged[:4]] == [4.0, 1.0, 0.0, 1.0]
    assert git(project, "show", "autoresearch/h:train.py").startswith("K = 3")
    seen = [json.loads(line) for line in (tmp_path / "plan.seen").read_text().splitlines()]
    assert seen and not any(s["holdout_visible"] or s["prompt_shows_holdout"] for s in seen)
    rejected = (project / ".git/autoresearch/root/agent/w1/prompt.md").read_text()
    assert "holdout regressed" in rejected and "secret" not in rejected


def test_with_holdout_every_two_a_failed_check_reverts_the_unchecked_keep(tmp_path):
    # K=2 is kept unchecked; K=4 is the second keep, checked against the baseline's holdout:
    # it regressed, so it is discarded and K=2 (never checked) is reverted; K=5 starts again.
    plan = [{"K": 2}, {"K": 4}, {"K": 5}]
    project = project_with(tmp_path, TRAIN_K, plan,
                           files={"holdout/eval.py": HOLDOUT, "holdout/secret.txt": "2\n"},
                           holdout_command=f"{PY} holdout/eval.py", holdout_files="holdout",
                           holdout_every=2)
    done = cli(project, "loop", "-n", "3", "--tag", "h2")
    assert done.returncode == 0, done.stderr
    logged = experiments(project)
    assert [(d["status"], d["reason"]) for d in logged] == [
        ("keep", "baseline"), ("keep", "improved"), ("discard", "holdout regressed"),
        ("keep", "improved")]
    reverts = [r["details"] for r in records(project) if r["action"] == "revert"]
    assert [(r["commit"], r["to"]) for r in reverts] == [
        (logged[1]["full_commit"], logged[0]["full_commit"])]
    best = git(project, "rev-parse", "refs/autoresearch/h2/best")
    assert best == logged[3]["full_commit"] == git(project, "rev-parse", "autoresearch/h2")
    assert git(project, "rev-parse", f"{best}~1") == logged[0]["full_commit"]


# -- the re-measured best ------------------------------------------------------------------

LUCKY = ("import pathlib\nVALUE = 1.0\n"
         "seen = pathlib.Path({seen!r}) / str(VALUE)\n"
         "first = not seen.exists()\nseen.parent.mkdir(exist_ok=True)\nseen.write_text('x')\n"
         "shown = VALUE - 0.7 if VALUE == 1.2 and first else VALUE\n"
         "print(f'val_bpb: {{shown:.6f}}')\n")


def test_a_best_that_only_looked_good_once_loses_its_lead(tmp_path):
    train = LUCKY.format(seen=str(tmp_path / "seen"))
    # 1.2 shows 0.5 once, then 1.2; 0.89 is a new change (0.9 again would be a duplicate)
    plan = [{"VALUE": 1.2}, {"VALUE": 0.9}, {"VALUE": 0.89}]
    project = project_with(tmp_path, train, plan, remeasure_every=1)
    done = cli(project, "loop", "-n", "3", "--tag", "r")
    assert done.returncode == 0, done.stderr
    logged = experiments(project)
    # 0.9 loses to the lucky 0.5 pooled with one re-run (median 0.85); after a second re-run
    # the lucky best's median is 1.2 and 0.89 takes the lead.
    assert [(d["status"], d["value"]) for d in logged] == [
        ("keep", 1.0), ("keep", 0.5), ("discard", 0.9), ("keep", 0.89)]
    remeasured = [r["details"] for r in records(project) if r["action"] == "remeasure"]
    lucky = logged[1]["full_commit"]
    assert [(r["commit"], r["samples"]) for r in remeasured[:2]] == [(lucky, [1.2]),
                                                                      (lucky, [1.2])]
    assert remeasured[1]["value"] == 1.2


# -- paired comparisons --------------------------------------------------------------------

COUNTED = ("import pathlib\nVALUE = 1.0\n"
           "with open({runs!r}, 'a') as runs:\n    runs.write(str(VALUE) + '\\n')\n"
           "print(f'val_bpb: {{VALUE:.6f}}')\n")


def test_paired_runs_candidate_and_best_in_turns_and_stops_when_decisive(tmp_path):
    runs = tmp_path / "runs.txt"
    plan = [{"VALUE": 0.8}]
    project = project_with(tmp_path, COUNTED.format(runs=str(runs)), plan, compare="paired",
                           repeats=6)
    done = cli(project, "loop", "-n", "1", "--tag", "p")
    assert done.returncode == 0, done.stderr
    baseline, candidate = experiments(project)
    assert (candidate["status"], candidate["reason"]) == ("keep", "improved")
    assert candidate["pairs"] == 3 and candidate["confidence"] > 0.97  # decisive at pair 3
    order = runs.read_text().split()
    assert order[6:] == ["0.8", "1.0", "0.8", "1.0", "0.8", "1.0"]  # after the baseline's 6


# -- seed-only changes ---------------------------------------------------------------------

SEEDED = "SEED = 1\nprint(f'val_bpb: {1.0 - SEED / 100:.6f}')\n"


def test_a_change_that_only_moves_a_seed_is_never_kept_on_one_measurement(tmp_path):
    project = project_with(tmp_path, SEEDED, [{"SEED": 7}])
    done = cli(project, "loop", "-n", "1", "--tag", "s")
    assert done.returncode == 0, done.stderr
    moved = experiments(project)[-1]
    assert (moved["status"], moved["reason"]) == (
        "discard", "seed-only change: needs paired or repeated evidence")
    assert moved["flags"] == ["seed"]
