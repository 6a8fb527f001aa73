"""A stand-in for a running ``autoresearch loop``, for the dashboard's tests: it writes what
a loop writes, the way the loop writes it, without running anything.

    python loop_writer.py PROJECT PLAN.json TAG [--hold]

Each step of the plan (a JSON list) is one experiment: ``description``, ``value`` (null:
a crash), optional ``error`` and ``log`` (lines of its run.log). For each: live.json says
the agent works, a real commit is made with plumbing (train.py's ``VALUE`` set to the
value, on top of the best, the work tree untouched), live.json says it runs, its run.log is
written, and its ``experiment_done`` record is appended to the ledger and the JSONL mirror.
The first step of a new tag is the baseline: HEAD itself. Lower is better.

With ``--hold`` it then shows one more experiment running (live.json and a log ending in
"still running") until its stdin closes, and removes live.json as the loop does at its end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from autoresearch.decide import Decision
from autoresearch.experiment import Experiment, Measurement
from autoresearch.ledger import append_event, read_events
from autoresearch.state import locate, write_json

TARGET = "train.py"
LIMIT_S = 600


def git(project: Path, *args: str, stdin: str | None = None, **env: str) -> str:
    done = subprocess.run(["git", *args], cwd=project, input=stdin, capture_output=True,
                          text=True, check=True, env={**os.environ, **env})
    return done.stdout.strip()


def commit(project: Path, parent: str, value: float, message: str) -> str:
    """A commit of ``parent``'s tree with train.py's value replaced; nothing else touched."""
    blob = git(project, "hash-object", "-w", "--stdin",
               stdin=f"VALUE = {value!r}\nprint(f'val_bpb: {{VALUE:.6f}}')\n")
    index = str(project.parent / f".writer-index-{os.getpid()}")
    git(project, "read-tree", parent, GIT_INDEX_FILE=index)
    git(project, "update-index", "--add", "--cacheinfo", f"100644,{blob},{TARGET}",
        GIT_INDEX_FILE=index)
    tree = git(project, "write-tree", GIT_INDEX_FILE=index)
    os.unlink(index)
    return git(project, "commit-tree", tree, "-p", parent, "-m", message)


def live(layout, tag: str, phase: str, description: str, sha: str = "", log: Path | None = None):
    write_json(layout.live, {
        "pid": os.getpid(), "tag": tag, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "jobs": 1, "workers": [{"worker": 1, "phase": phase, "started": time.time(),
                                "limit_s": LIMIT_S, "description": description,
                                "commit": sha[:7], "log": str(log) if log else None}]})


def history(layout, tag: str) -> tuple[int, str | None, float | None]:
    """(experiments so far, best commit, best value) of ``tag`` in the ledger."""
    records, _ = read_events(layout.ledger)
    done = [r["details"] for r in records
            if r["action"] == "experiment_done" and r["details"].get("tag") == tag]
    keeps = [d for d in done if d["status"] == "keep"]
    return len(done), (keeps[-1]["full_commit"] if keeps else None), \
        (keeps[-1]["value"] if keeps else None)


def experiment(project: Path, layout, tag: str, step: dict) -> None:
    number, best, best_value = history(layout, tag)
    description, value = step["description"], step.get("value")
    live(layout, tag, "agent", description)
    sha = git(project, "rev-parse", "HEAD") if best is None else \
        commit(project, best, value if value is not None else -1.0, description)
    log = layout.run_dir(sha) / "1" / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"{line}\n" for line in step.get("log", ["training…"])))
    live(layout, tag, "run", description, sha, log)
    if value is None:
        decision = Decision("crash", "run failed")
    elif best is None:
        decision = Decision("keep", "baseline")
    else:
        decision = Decision("keep", "improved") if value < best_value \
            else Decision("discard", "not better")
    done = Experiment(
        number=number + 1, tag=tag, metric="val_bpb", direction="lower_is_better",
        description=description, decision=decision, commit=sha,
        measurement=Measurement(commit=sha, value=value, samples=(value,) if value is not None else (),
                                error=step.get("error"), duration_s=1.5),
        prev=best_value, error=step.get("error"))
    for path in (layout.ledger, layout.events):
        append_event(path, *done.to_record())
    if decision.status == "keep":
        git(project, "update-ref", f"refs/heads/autoresearch/{tag}", sha)


def main() -> None:
    project, plan, tag = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), sys.argv[3]
    layout = locate(project)
    layout.tag_file.parent.mkdir(parents=True, exist_ok=True)
    layout.tag_file.write_text(tag + "\n")
    for step in json.loads(plan.read_text()):
        experiment(project, layout, tag, step)
    if "--hold" in sys.argv:
        log = layout.state / "held.log"
        log.write_text("epoch 1\nepoch 2\nstill running\n")
        live(layout, tag, "run", "held experiment", "f" * 40, log)
        sys.stdin.read()
    layout.live.unlink()


if __name__ == "__main__":
    main()
