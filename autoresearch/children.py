"""The processes the tool started and that may outlive it: recorded so a loop restarted after a
hard kill can end what the killed one left running, and nothing else.

Each command ``runner.run`` starts is recorded in a directory (one small JSON file per
process: pid, start time, command line) while it runs. Recovery signals a recorded process
only when it can prove it is the same one: the pid, its start time and its command line all
match. A pid reused by an unrelated process is left alone; so is its process group.

The record is made right after the start, when the child may not have exec'd yet: its
command line then still reads as its parent's (or empty), 9 times in 40 here, and such a
record would never match. It is kept as "not read yet" and completed at the runner's first
sample (``confirm``, 0.1 s in); a record a hard kill left "not read yet" is proven by pid
and start time alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psutil

from autoresearch.state import write_json


@dataclass(frozen=True)
class ChildRegistry:
    directory: Path

    def record(self, pid: int) -> Path | None:
        """Note that ``pid`` runs now; the returned file is removed when it ends."""
        try:
            process = psutil.Process(pid)
            identity = {"pid": pid, "create_time": process.create_time(),
                        "cmdline": _after_exec(process)}
        except psutil.Error:
            return None
        path = self.directory / f"{pid}.json"
        try:
            write_json(path, identity)
        except OSError:
            return None
        return path

    def confirm(self, path: Path) -> None:
        """Complete a record made before the child's exec with its command line now."""
        try:
            data = json.loads(path.read_text())
            if data.get("cmdline") is None:
                data["cmdline"] = _after_exec(psutil.Process(int(data["pid"])))
                if data["cmdline"] is not None:
                    write_json(path, data)
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            pass

    def leftovers(self) -> list[psutil.Process]:
        """The recorded processes that still run and are provably the ones recorded."""
        found = []
        for record in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []:
            process = _same_process(record)
            record.unlink(missing_ok=True)
            if process is not None:
                found.append(process)
        return found


def _after_exec(process: psutil.Process) -> list[str] | None:
    """The command line, or None while it is still this process's own (not exec'd yet)."""
    cmdline = process.cmdline()
    return None if not cmdline or cmdline == psutil.Process().cmdline() else cmdline


def _same_process(record: Path) -> psutil.Process | None:
    try:
        data = json.loads(record.read_text())
        process = psutil.Process(int(data["pid"]))
        same = process.create_time() == data.get("create_time") and \
            (data.get("cmdline") is None or process.cmdline() == data["cmdline"])
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return process if same else None
