"""``autoresearch measure [COMMIT...]``: measure commits, running only what is not measured.

Each commit runs in a worktree of its own (never the user's tree, never a running loop's);
one measured before under the same run definition is not run again (doit says so). A
commit that crashes makes the command exit 1 after every commit was measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch.children import ChildRegistry
from autoresearch.config import Config, resolve
from autoresearch.engine import Engine
from autoresearch.errors import UserError
from autoresearch.experiment import Measurement
from autoresearch.git import open_repo
from autoresearch.loop import preflight_check
from autoresearch.output import Console
from autoresearch.signals import Signals
from autoresearch.state import locate_for


def measure_command(project: Path, flags: dict[str, Any], commits: list[str],
                    console: Console) -> None:
    config = resolve(project, flags)
    layout = locate_for(config)
    with open_repo(project) as repo, Signals():
        engine = Engine(config, layout, repo, children=ChildRegistry(layout.children))
        shas = [repo.resolve(rev) for rev in commits or ["HEAD"]]
        crashed = []
        for sha in shas:
            if engine.cached(sha) is None:
                preflight_check(config)
            measured = engine.measure(sha)
            console.result(describe_measurement(config, measured))
            if measured.value is None:
                crashed.append(sha)
    if crashed:
        raise UserError("crashed: " + "; ".join(
            f"{sha[:7]} (log: {engine.sample_log(sha)})" for sha in crashed))


def describe_measurement(config: Config, m: Measurement) -> str:
    how = "cached, ran nothing" if m.cached else (
        f"reused from {m.reused_from[:7]}" if m.reused_from else f"ran in {m.duration_s:.2f} s")
    if m.value is None:
        return f"{m.commit[:7]}  {config.metric_name} crash: {m.error}  ({how})"
    return f"{m.commit[:7]}  {config.metric_name} {m.value:.6f}  ({how})"
