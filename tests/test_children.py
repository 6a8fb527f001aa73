"""The records of started processes that let a restarted loop end what a killed one left."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from helpers import wait_until

from autoresearch.children import ChildRegistry
from autoresearch.runner import run


@pytest.fixture
def child():
    """``sleep 30``, once it has exec'd (its command line is its own)."""
    process = subprocess.Popen(["sleep", "30"])
    wait_until(lambda: psutil.Process(process.pid).cmdline() == ["sleep", "30"], None,
               "the child's exec")
    yield process
    process.kill()
    process.wait()


def rewrite(path: Path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_a_record_made_before_the_exec_is_completed_and_still_proves_the_process(tmp_path,
                                                                                 child):
    registry = ChildRegistry(tmp_path / "children")
    path = registry.record(child.pid)
    rewrite(path, cmdline=None)  # as read in the instant before the exec
    registry.confirm(path)
    assert json.loads(path.read_text())["cmdline"] == ["sleep", "30"]
    [found] = registry.leftovers()
    assert found.pid == child.pid
    assert not path.exists()  # each record is read once


def test_a_record_a_kill_left_unconfirmed_is_proven_by_pid_and_start_time(tmp_path, child):
    registry = ChildRegistry(tmp_path / "children")
    rewrite(registry.record(child.pid), cmdline=None)
    assert [p.pid for p in registry.leftovers()] == [child.pid]


@pytest.mark.parametrize("change", [{"create_time": -5.0}, {"cmdline": ["python", "x"]}],
                         ids=["earlier start", "another command line"])
def test_another_start_time_or_command_line_is_another_process(tmp_path, child, change):
    registry = ChildRegistry(tmp_path / "children")
    path = registry.record(child.pid)
    if "create_time" in change:
        change = {"create_time": json.loads(path.read_text())["create_time"] - 5.0}
    rewrite(path, **change)
    assert registry.leftovers() == []


def test_the_runner_records_the_command_line_after_the_exec(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    release = tmp_path / "release"
    seen = []

    def look(_elapsed: float) -> None:  # each tick; the child waits until one saw the record
        seen.extend(json.loads(p.read_text()) for p in registry.directory.glob("*.json"))
        release.touch()

    code = ("import pathlib, sys, time\n"
            "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)\n")
    run([sys.executable, "-c", code, str(release)], cwd=tmp_path, timeout=60,
        stdout_path=tmp_path / "log", on_tick=look, children=registry)
    assert seen and seen[0]["cmdline"][1:] == ["-c", code, str(release)]
    assert not list(registry.directory.glob("*.json"))  # removed when it ended
