"""Cluster jobs in flight, one small file each in the jobs directory (``Layout.children``).

A job is recorded under a name the tool chooses *before* it is submitted, so a loop killed
at any moment (even between the submission and its answer) leaves a record from which the
next loop can cancel the job. The files end in ``.job``: the process records beside them
end in ``.json`` and belong to ``runner``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch.state import read_json, write_json

SUFFIX = ".job"


def path_of(jobs_dir: Path, name: str) -> Path:
    return jobs_dir / f"{name}{SUFFIX}"


def write(jobs_dir: Path, name: str, runner: str, **fields: Any) -> Path:
    """Record (or update) job ``name`` of ``runner``; fields say how to reach it."""
    path = path_of(jobs_dir, name)
    write_json(path, {"runner": runner, "name": name, **fields})
    return path


def remove(jobs_dir: Path, name: str) -> None:
    path_of(jobs_dir, name).unlink(missing_ok=True)


def recorded(jobs_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable record, oldest name first; unreadable ones are removed."""
    found = []
    for path in sorted(jobs_dir.glob(f"*{SUFFIX}")) if jobs_dir.is_dir() else []:
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            found.append((path, data))
        else:
            path.unlink(missing_ok=True)
    return found
