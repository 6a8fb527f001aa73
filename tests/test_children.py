"""The records of started processes that let a restarted loop end what a killed one left."""

from __future__ import annotations

import json
import subprocess
import sys

from autoresearch.children import ChildRegistry
from autoresearch.runner import run


def sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "30"])


def rewrite(path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_a_record_made_before_the_exec_is_completed_and_still_proves_the_process(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    child = sleeper()
    try:
        path = registry.record(child.pid)
        rewrite(path, cmdline=None)  # as read in the instant before the exec
        registry.confirm(path)
        assert json.loads(path.read_text())["cmdline"] == ["sleep", "30"]
        [found] = registry.leftovers()
        assert found.pid == child.pid
        assert not path.exists()  # each record is read once
    finally:
        child.kill()
        child.wait()


def test_a_record_a_kill_left_unconfirmed_is_proven_by_pid_and_start_time(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    child = sleeper()
    try:
        rewrite(registry.record(child.pid), cmdline=None)
        assert [p.pid for p in registry.leftovers()] == [child.pid]
    finally:
        child.kill()
        child.wait()


def test_another_start_time_or_command_line_is_another_process(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    child = sleeper()
    try:
        for change in ({"create_time": "earlier"}, {"cmdline": ["python", "x"]}):
            path = registry.record(child.pid)
            created = json.loads(path.read_text())["create_time"]
            rewrite(path, **{k: (created - 5 if v == "earlier" else v)
                             for k, v in change.items()})
            assert registry.leftovers() == []
    finally:
        child.kill()
        child.wait()


def test_the_runner_records_the_command_line_after_the_exec(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    seen = []

    def look(_elapsed: float) -> None:
        seen.extend(json.loads(p.read_text()) for p in registry.directory.glob("*.json"))

    run([sys.executable, "-c", "import time; time.sleep(1.3)"], cwd=tmp_path, timeout=30,
        stdout_path=tmp_path / "log", on_tick=look, children=registry)
    assert seen and seen[0]["cmdline"][1:] == ["-c", "import time; time.sleep(1.3)"]
    assert not list(registry.directory.glob("*.json"))  # removed when it ended
