"""The measured experiments of a project as doit tasks, for doit's own commands.

``doit list --all`` lists them, ``doit info experiment:<sha>`` says whether and why one would
run again, ``doit forget experiment:<sha>`` makes the next ``measure`` of that commit run it.
Built only when such a command asks (tasks.py's ``task_experiment`` is created lazily).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoresearch.errors import UserError
from autoresearch.state import read_json


def measured_tasks(project: Path) -> Iterator[dict[str, Any]]:
    from autoresearch.config import resolve
    from autoresearch.engine import Engine
    from autoresearch.git import open_repo
    from autoresearch.state import locate_for

    try:
        config = resolve(project)
        layout = locate_for(config)
        repo = open_repo(project)
    except UserError:
        return
    with repo:
        engine = Engine(config, layout, repo)
        for metrics in sorted(layout.runs.glob("*/metrics.json")) if layout.runs.is_dir() \
                else []:
            sha = metrics.parent.name
            data = read_json(metrics) or {}
            value = data.get("value")
            shown = f"{value:.6g}" if isinstance(value, (int, float)) else "crash"
            subject = ""
            try:
                subject = repo.commit_message(sha).strip().splitlines()[0]
            except Exception:  # a commit that no longer exists (gc'ed)
                subject = "(commit not in the repository)"
            yield engine.task(sha, doc=f"{config.metric_name} {shown}: {subject}")
