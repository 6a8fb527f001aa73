"""The Experiment type is the JSONL schema: records written by earlier versions round-trip
byte for byte (golden logs captured from the loop before the pipeline was rebuilt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoresearch import ledger
from autoresearch.decide import Decision
from autoresearch.experiment import AgentUsage, Experiment, Measurement

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def golden_lines() -> list[str]:
    lines = []
    for path in sorted(GOLDEN.glob("*.jsonl")):
        lines += [line for line in path.read_text().splitlines()
                  if '"action":"experiment_done"' in line]
    return lines


@pytest.mark.parametrize("line", golden_lines())
def test_golden_experiment_records_round_trip_byte_for_byte(line: str):
    record = json.loads(line)
    experiment = Experiment.from_record(record)
    action, status, details = experiment.to_record()
    assert (action, status) == (record["action"], record["status"])
    again = ledger.format_record(action, status, details, local_time=record["local_time"])
    assert again == line


def test_golden_logs_hold_every_kind_of_experiment():
    kinds = {(json.loads(line)["details"]["status"],
              json.loads(line)["details"]["full_commit"] is None,
              "worker" in json.loads(line)["details"],
              "rebased_from" in json.loads(line)["details"]) for line in golden_lines()}
    assert ("keep", False, False, False) in kinds  # serial keep
    assert ("crash", False, False, False) in kinds  # a run that crashed
    assert ("crash", True, False, False) in kinds  # rejected before a commit
    assert ("keep", False, True, True) in kinds  # parallel, moved onto a newer best


def test_derived_values():
    measured = Measurement(commit="a" * 40, value=0.75, samples=(0.75,), code_lines=3)
    e = Experiment(number=2, tag="t", metric="loss", direction="lower_is_better",
                   description="halve it", decision=Decision("keep", "improved"),
                   commit="a" * 40, measurement=measured, prev=1.0,
                   agent=AgentUsage(cost_usd=0.5, seconds=1.23456))
    assert (e.value, e.delta, e.short_commit, e.cost_usd) == (0.75, -0.25, "aaaaaaa", 0.5)
    d = e.details()
    assert list(d)[:13] == ["status", "metric", "value", "prev", "delta", "commit",
                            "description", "memory_gb", "tag", "number", "reason",
                            "direction", "full_commit"]
    assert d["agent_s"] == 1.235
    later = e.with_more(holdout=0.5)
    assert list(later.details())[-1] == "holdout"
    assert Experiment.from_record({"details": later.details()}).more == {"holdout": 0.5}


def test_a_crash_has_value_zero_and_its_cause():
    crashed = Measurement(commit="b" * 40, value=None, error="exit code 1")
    e = Experiment(number=3, tag="t", metric="loss", direction="lower_is_better",
                   description="x", decision=Decision("crash", "exit code 1"),
                   commit="b" * 40, measurement=crashed, prev=1.0)
    action, status, d = e.to_record()
    assert (status, d["value"], d["delta"], d["error"]) == ("fail", 0, None, "exit code 1")
    assert e.value is None
