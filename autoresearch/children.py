"""The processes the tool started and that may outlive it: recorded so a loop restarted after a
hard kill can end what the killed one left running, and nothing else.

Each command ``runner.run`` starts is recorded in a directory (one small JSON file per
process: pid, start time, command line) while it runs. Recovery signals a recorded process
only when it can prove it is the same one: the pid and its start time match (a reused pid
has a later start time). The command line is kept for people reading the record, not
compared: read just after the start, before the child's exec, it is still its parent's or
empty (9 records in 40 were, and those leftovers went unkilled). A pid reused by an unrelated
process is left alone; so is its process group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ChildRegistry:
    directory: Path

    def record(self, pid: int) -> Path | None:
        """Note that ``pid`` runs now; the returned file is removed when it ends."""
        try:
            process = psutil.Process(pid)
            identity = {"pid": pid, "create_time": process.create_time(),
                        "cmdline": process.cmdline()}
        except psutil.Error:
            return None
        path = self.directory / f"{pid}.json"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(identity))
        except OSError:
            return None
        return path

    def leftovers(self) -> list[psutil.Process]:
        """The recorded processes that still run and are provably the ones recorded."""
        found = []
        for record in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []:
            process = _same_process(record)
            record.unlink(missing_ok=True)
            if process is not None:
                found.append(process)
        return found


def _same_process(record: Path) -> psutil.Process | None:
    try:
        data = json.loads(record.read_text())
        process = psutil.Process(int(data["pid"]))
        same = process.create_time() == data.get("create_time")
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return process if same else None
