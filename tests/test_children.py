"""The records of started processes that let a restarted loop end what a killed one left."""

from __future__ import annotations

import json
import subprocess

from autoresearch.children import ChildRegistry


def test_a_recorded_process_that_still_runs_is_found_even_if_recorded_before_its_exec(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    child = subprocess.Popen(["sleep", "30"])
    try:
        path = registry.record(child.pid)
        record = json.loads(path.read_text())
        record["cmdline"] = []  # what psutil reads in the instant before the exec
        path.write_text(json.dumps(record))
        [found] = registry.leftovers()
        assert found.pid == child.pid
        assert not path.exists()  # each record is read once
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_not_the_recorded_process(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    child = subprocess.Popen(["sleep", "30"])
    try:
        path = registry.record(child.pid)
        record = json.loads(path.read_text())
        record["create_time"] -= 5.0  # the recorded process started earlier: another one
        path.write_text(json.dumps(record))
        assert registry.leftovers() == []
    finally:
        child.kill()
        child.wait()


def test_a_process_that_ended_is_not_found(tmp_path):
    registry = ChildRegistry(tmp_path / "children")
    child = subprocess.Popen(["true"])
    registry.record(child.pid)
    child.wait()
    assert registry.leftovers() == []
