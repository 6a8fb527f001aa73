"""What the dashboard tests share: a project, and a process writing to it as a loop does.

The writer (``standins/loop_writer.py``) stands in for ``autoresearch loop`` until the
rebuilt loop writes live.json; :func:`start_loop` is the one place to switch to the real
loop (``helpers.start(project, "loop", ...)`` with a stand-in agent following a plan).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import PY, environment, make_project, train_py

WRITER = Path(__file__).parent / "standins" / "loop_writer.py"
TAG = "dec2"
SCRIPT = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
BASELINE = [{"description": "baseline", "value": 1.0}]
NIGHT = [
    {"description": "raise lr", "value": 0.9, "log": ["epoch 1", "val_bpb: 0.9"]},
    {"description": SCRIPT, "value": 0.95},
    {"description": "double width", "value": None, "error": "CUDA out of memory",
     "log": ["Traceback (most recent call last):", "RuntimeError: CUDA out of memory"]},
]


def writer(project: Path, plan: list[dict], *extra: str) -> list[str]:
    plan_file = project.parent / f"plan-{len(list(project.parent.glob('plan-*')))}.json"
    plan_file.write_text(json.dumps(plan))
    return [PY, str(WRITER), str(project), str(plan_file), TAG, *extra]


def new_project(tmp: Path, plan: list[dict] = BASELINE) -> Path:
    """A committed project whose loop has written ``plan`` (by default only its baseline)."""
    project = make_project(tmp, train_py(1.0))
    subprocess.run(writer(project, plan), check=True, env=environment(tmp))
    return project


def start_loop(project: Path, plan: list[dict] = NIGHT) -> subprocess.Popen:
    """A process that runs ``plan`` like a loop, then holds one experiment running (its log
    ends in "still running") until its stdin is closed."""
    return subprocess.Popen(writer(project, plan, "--hold"), stdin=subprocess.PIPE,
                            env=environment(project.parent))
