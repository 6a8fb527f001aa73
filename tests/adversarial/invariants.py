"""What must hold after every adversarial case, each check returning what broke (or None).

- ``fake keep``: every commit the ledger logs as kept, measured afresh in a clean checkout
  made here (``git archive``, no hooks, no state, nothing untracked), gives the logged value;
- ``only targets``: every kept commit but the baseline and the user's own changes only the
  target files against its parent;
- ``user's work``: the user's files (uncommitted edits, staged and untracked files), index,
  HEAD, branches, tags and stash are as the snapshot says;
- ``mirrors``: results.tsv and the JSONL log say what the ledger says;
- ``processes``: nothing the case started still runs;
- ``branch``: the experiment branch and the best ref are at commits the ledger kept, the
  best ref at the best.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import psutil
from helpers import git, git_run

from adversarial import world
from autoresearch import ledger as ledger_module

METRIC = re.compile(r"^val_bpb:\s*(\S+)\s*$", re.MULTILINE)
TARGETS = ("train.py",)
FRESH_TIMEOUT_S = 60


def ledger_records(state: Path) -> list[dict]:
    path = state / "ledger.jsonl"
    if not path.exists():
        return []
    records, _ = ledger_module.parse_lines(path.read_bytes().split(b"\n"))
    return records


def experiments(state: Path, tag: str) -> list[dict]:
    return [r["details"] for r in ledger_records(state)
            if r.get("action") == "experiment_done" and r["details"].get("tag") == tag]


def kept(state: Path, tag: str) -> list[dict]:
    return [d for d in experiments(state, tag) if d.get("status") == "keep"]


def fresh_value(project: Path, commit: str) -> float | None:
    """``commit`` run in a clean checkout of its own: the metric it prints, None on a crash."""
    if git_run(project, "cat-file", "-t", commit).stdout.strip() != "commit":
        return None
    with tempfile.TemporaryDirectory(prefix="adv-fresh-") as clean:
        checkout(project, commit, Path(clean))
        try:
            done = subprocess.run([sys.executable, "train.py"], cwd=clean, capture_output=True,
                                  text=True, timeout=FRESH_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return None
    found = METRIC.findall(done.stdout)
    return float(found[-1]) if done.returncode == 0 and found else None


def checkout(project: Path, commit: str, dest: Path) -> None:
    """Write ``commit``'s files into ``dest`` from git's objects as they are: no hook, no
    filter or attribute of the repository (which an agent or a run may have planted)."""
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", commit], cwd=project,
                             capture_output=True, check=True).stdout
    for entry in filter(None, listing.split(b"\0")):
        meta, _, name = entry.partition(b"\t")
        mode, kind, oid = meta.split()
        if kind != b"blob":
            continue
        data = subprocess.run(["git", "cat-file", "blob", oid.decode()], cwd=project,
                              capture_output=True, check=True).stdout
        path = dest / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == b"120000":
            os.symlink(os.fsdecode(data), path)
        else:
            path.write_bytes(data)


# -- the checks ------------------------------------------------------------------------------

def no_fake_keep(run) -> str | None:
    fakes = []
    measured: dict[str, float | None] = {}
    for record in kept(run.state, run.tag):
        commit = record.get("full_commit") or ""
        if commit not in measured:
            measured[commit] = fresh_value(run.project, commit)
        if measured[commit] != record.get("value"):
            fakes.append(f"{commit[:7]} logged {record.get('value')}, measures "
                         f"{measured[commit]}")
    return "; ".join(fakes) or None


def only_targets_kept(run) -> str | None:
    wrong = []
    for record in kept(run.state, run.tag):
        commit = record.get("full_commit") or ""
        if record.get("description") == "baseline" or commit in run.user_commits:
            continue
        parent = git(run.project, "rev-parse", f"{commit}~1", check=False)
        changed = set(git(run.project, "diff-tree", "-r", "--name-only", "--no-commit-id",
                          parent, commit, check=False).splitlines()) if parent else {"?"}
        if changed - set(TARGETS):
            wrong.append(f"{commit[:7]} changes {', '.join(sorted(changed - set(TARGETS)))}")
    return "; ".join(wrong) or None


def users_work_kept(run) -> str | None:
    lost = run.snapshot.differences(world.snapshot(run.project))
    return "; ".join(lost) or None


def mirrors_match(run) -> str | None:
    ledger_file = run.state / "ledger.jsonl"
    events = run.project / ledger_module.EVENTS_FILE
    problems = []
    ledger_bytes = ledger_file.read_bytes() if ledger_file.exists() else b""
    if (events.read_bytes() if events.exists() else b"") != ledger_bytes:
        problems.append("the JSONL log differs from the ledger")
    rows, skipped = ledger_module.read_results(run.project / ledger_module.RESULTS_FILE)
    logged = [d for r in ledger_records(run.state) if r.get("action") == "experiment_done"
              for d in [r["details"]]]
    want = [(str(d.get("commit") or ""), d.get("status")) for d in logged]
    have = [(row.commit, row.status) for row in rows]
    if skipped or want != have:
        problems.append(f"results.tsv rows {have} != ledger {want}")
    return "; ".join(problems) or None


def nothing_left_running(run) -> str | None:
    left = leftovers(run.token, run.root)
    return ", ".join(f"{p.pid} {' '.join(p.info['cmdline'] or [])[:80]}" for p in left) or None


def branch_at_kept(run) -> str | None:
    keeps = kept(run.state, run.tag)
    commits = {d.get("full_commit") for d in keeps}
    problems = []
    tip = git(run.project, "rev-parse", "--verify", "-q", f"refs/heads/autoresearch/{run.tag}",
              check=False)
    best = git(run.project, "rev-parse", "--verify", "-q", f"refs/autoresearch/{run.tag}/best",
               check=False)
    if tip and tip not in commits:
        problems.append(f"the branch is at {tip[:7]}, which the ledger never kept")
    if keeps and best != keeps[-1].get("full_commit"):
        problems.append(f"the best ref is at {best[:7] or 'nothing'}, the ledger's best at "
                        f"{keeps[-1].get('full_commit', '')[:7]}")
    return "; ".join(problems) or None


CHECKS: dict[str, Callable] = {
    "fake keep": no_fake_keep,
    "only targets": only_targets_kept,
    "user's work": users_work_kept,
    "mirrors": mirrors_match,
    "processes": nothing_left_running,
    "branch": branch_at_kept,
}


def violations(run) -> dict[str, str]:
    """Each check that failed, with what it found."""
    return {name: found for name, check in CHECKS.items() if (found := check(run))}


# -- processes ---------------------------------------------------------------------------------

def leftovers(token: str, root: Path) -> list[psutil.Process]:
    """Live processes carrying ``token`` on their command line or working under ``root``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "pid"]):
        try:
            if proc.pid == psutil.Process().pid or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if any(token in part for part in proc.info["cmdline"] or ()) \
                    or Path(proc.cwd()).is_relative_to(root):
                found.append(proc)
        except (psutil.Error, OSError):
            pass
    return found


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
