"""What the benchmarks share: the checkout, the CLI's environment, and a one-file project
(``params.yaml`` holding ``x``, the experiment ``exp.sh`` printing ``score: N``) that the
trivial ``command`` agent ``edit.sh`` changes.

The scripts import it by name (``from common import ...``): running ``python
bench/bench_x.py`` puts bench/ first on ``sys.path``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "GIT_TERMINAL_PROMPT": "0"}

CONFIG = """\
target_file: params.yaml
run_command: sh exp.sh
metric_name: score
metric_source: regex
metric_regex: "score: ([0-9]+)"
metric_direction: lower_is_better
time_budget: 60
agent: command
agent_command: sh edit.sh
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def autoresearch_files(agent: str) -> dict[str, str]:
    """The ``command`` agent ``agent`` (edit.sh) and the autoresearch.yaml that runs it."""
    return {"edit.sh": agent, "autoresearch.yaml": CONFIG}


def make_project(path: Path, experiment: str, files: Mapping[str, str], message: str) -> Path:
    """A repository at ``path`` (a local identity, no signing) with ``x: 10``, the
    experiment ``experiment`` as exp.sh and ``files``, committed with ``message``."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "config", "user.name", "bench")
    git(path, "config", "user.email", "bench@localhost")
    git(path, "config", "commit.gpgsign", "false")
    for name, text in {"params.yaml": "x: 10\n", "exp.sh": experiment, **files}.items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", message)
    return path


def read_stamps(path: Path) -> dict[str, list[float]]:
    """The ``NAME SECONDS`` lines the scripts append to ``$BENCH_STAMPS``, by name."""
    stamps: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        stamps.setdefault(name, []).append(float(value))
    return stamps
