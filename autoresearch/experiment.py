"""One experiment as a typed value; its ``to_record``/``from_record`` *is* the JSONL schema.

An ``experiment_done`` record's details, in this order (the seed's fields first; a key
added later goes after the ones before it, never between them)::

    status metric value prev delta commit description memory_gb tag number reason
    direction full_commit
    [measured:]  duration_s samples lines cached reused_from extra
    [a crash:]   error
    [an agent:]  agent_cost_usd agent_s input_tokens output_tokens
    [parallel:]  worker base [rebased_from]
    [newer keys, in the order they were added]
    timestamp

``status`` is keep, discard or crash and nothing else (the seed's three); a crash has
``value`` 0 and the record's status "fail". ``commit`` is the 7-character sha
("0000000" for a candidate rejected before it was committed); ``full_commit`` the whole sha.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from autoresearch.decide import Decision

STATUSES = ("keep", "discard", "crash")
NO_COMMIT = "0000000"

_HEAD_KEYS = ("status", "metric", "value", "prev", "delta", "commit", "description",
              "memory_gb", "tag", "number", "reason", "direction", "full_commit")
_MEASURED_KEYS = ("duration_s", "samples", "lines", "cached", "reused_from", "extra")
_AGENT_KEYS = ("agent_cost_usd", "agent_s", "input_tokens", "output_tokens")
_WORKER_KEYS = ("worker", "base", "rebased_from")
_KNOWN = frozenset(_HEAD_KEYS + _MEASURED_KEYS + _AGENT_KEYS + _WORKER_KEYS
                   + ("error", "timestamp"))


@dataclass(frozen=True)
class Measurement:
    """What running one commit produced (its repeats aggregated); the cache's metrics.json."""

    commit: str
    value: float | None
    samples: tuple[float, ...] = ()
    error: str | None = None
    extra: Mapping[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    peak_rss_mb: float = 0.0
    memory_gb: float = 0.0
    code_lines: int | None = None
    exit_code: int | None = None
    reused_from: str | None = None
    cached: bool = False  # True when this call ran nothing
    outputs: tuple[dict, ...] = ()  # emitted files of the last sample: path, size, raw_size
    rewritten: tuple[str, ...] = ()  # tracked files the run changed (a docs step, say)
    jobs: tuple[dict, ...] = ()  # where each sample ran on a cluster: job_id, node, cancelled

    @property
    def crashed(self) -> bool:
        return self.value is None

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "value": self.value, "samples": list(self.samples),
                "error": self.error, "extra": dict(self.extra), "duration_s": self.duration_s,
                "peak_rss_mb": self.peak_rss_mb, "memory_gb": self.memory_gb,
                "code_lines": self.code_lines, "exit_code": self.exit_code,
                "reused_from": self.reused_from, "outputs": list(self.outputs),
                "rewritten": list(self.rewritten), "jobs": list(self.jobs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, cached: bool = False) -> "Measurement":
        return cls(commit=data["commit"], value=data.get("value"),
                   samples=tuple(data.get("samples") or ()), error=data.get("error"),
                   extra=dict(data.get("extra") or {}),
                   duration_s=data.get("duration_s", 0.0),
                   peak_rss_mb=data.get("peak_rss_mb", 0.0),
                   memory_gb=data.get("memory_gb", 0.0), code_lines=data.get("code_lines"),
                   exit_code=data.get("exit_code"), reused_from=data.get("reused_from"),
                   cached=cached, outputs=tuple(data.get("outputs") or ()),
                   rewritten=tuple(data.get("rewritten") or ()),
                   jobs=tuple(data.get("jobs") or ()))


@dataclass(frozen=True)
class AgentUsage:
    """What one agent call cost."""

    cost_usd: float | None = None
    seconds: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Experiment:
    """One judged candidate: what was tried, what it measured, what was decided and why."""

    number: int
    tag: str
    metric: str
    direction: str
    description: str
    decision: Decision
    commit: str | None = None  # the full sha; None when rejected before a commit
    measurement: Measurement | None = None
    prev: float | None = None  # the best value it was judged against
    error: str | None = None  # a crash's cause
    agent: AgentUsage | None = None
    worker: int | None = None
    base: str | None = None  # the best it was made on (7 characters), parallel or branched
    rebased_from: str | None = None
    more: Mapping[str, Any] = field(default_factory=dict)  # keys added after the ones above, in their order
    timestamp: str | None = None  # set when read back from a log
    local_time: str | None = None

    # -- derived ---------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.decision.status

    @property
    def reason(self) -> str:
        return self.decision.reason

    @property
    def kept(self) -> bool:
        return self.decision.status == "keep"

    @property
    def crashed(self) -> bool:
        return self.decision.status == "crash"

    @property
    def value(self) -> float | None:
        """The metric, or None for a crash."""
        if self.crashed or self.measurement is None:
            return None
        return self.measurement.value

    @property
    def delta(self) -> float | None:
        value = self.value
        if value is None or self.prev is None:
            return None
        return round(value - self.prev, 10)

    @property
    def short_commit(self) -> str:
        return (self.commit or NO_COMMIT)[:7]

    @property
    def samples(self) -> tuple[float, ...]:
        return self.measurement.samples if self.measurement else ()

    @property
    def code_lines(self) -> int | None:
        return self.measurement.code_lines if self.measurement else None

    @property
    def cost_usd(self) -> float:
        return (self.agent.cost_usd or 0.0) if self.agent else 0.0

    def with_more(self, **keys: Any) -> "Experiment":
        return replace(self, more={**self.more, **keys})

    # -- the record ----------------------------------------------------------------------------
    def details(self) -> dict[str, Any]:
        """The record's details, keys in the documented order (timestamp added by the log)."""
        m = self.measurement
        value = self.value
        d: dict[str, Any] = {
            "status": self.status, "metric": self.metric, "value": 0 if value is None else value,
            "prev": self.prev, "delta": self.delta, "commit": self.short_commit,
            "description": self.description, "memory_gb": m.memory_gb if m else 0.0,
            "tag": self.tag, "number": self.number, "reason": self.reason,
            "direction": self.direction, "full_commit": self.commit,
        }
        if m is not None:
            d.update({"duration_s": m.duration_s, "samples": list(m.samples),
                      "lines": m.code_lines, "cached": m.cached, "reused_from": m.reused_from,
                      "extra": dict(m.extra)})
        if self.crashed:
            d["error"] = self.error or (m.error if m and m.error else self.reason)
        if self.agent is not None:
            d.update({"agent_cost_usd": self.agent.cost_usd,
                      "agent_s": round(self.agent.seconds, 3),
                      "input_tokens": self.agent.input_tokens,
                      "output_tokens": self.agent.output_tokens})
        if self.worker is not None:
            d["worker"] = self.worker
        if self.base is not None:
            d["base"] = self.base
        if self.rebased_from is not None:
            d["rebased_from"] = self.rebased_from
        d.update(self.more)
        if self.timestamp is not None:
            d["timestamp"] = self.timestamp
        return d

    def to_record(self) -> tuple[str, str, dict[str, Any]]:
        """(action, status, details) for the log."""
        return "experiment_done", "fail" if self.crashed else "success", self.details()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Experiment":
        """The experiment an ``experiment_done`` record describes (a log written by any
        version: missing keys take their defaults)."""
        d = record["details"]
        status = d.get("status") if d.get("status") in STATUSES else "crash"
        decision = Decision(status, str(d.get("reason") or ""))
        commit = d.get("full_commit") or _seed_commit(d)
        measurement = None
        valued = commit or _number(d.get("value")) is not None
        if "samples" in d or "duration_s" in d or (status != "crash" and valued):
            value = d.get("value") if status != "crash" else None
            measurement = Measurement(
                commit=commit or "", value=_number(value),
                samples=tuple(x for x in d.get("samples") or () if _number(x) is not None),
                error=d.get("error") if status == "crash" else None,
                extra=dict(d.get("extra") or {}),
                duration_s=_number(d.get("duration_s")) or 0.0,
                memory_gb=_number(d.get("memory_gb")) or 0.0, code_lines=d.get("lines"),
                reused_from=d.get("reused_from"), cached=bool(d.get("cached")))
        agent = None
        if any(k in d for k in _AGENT_KEYS):
            agent = AgentUsage(cost_usd=_number(d.get("agent_cost_usd")),
                               seconds=_number(d.get("agent_s")) or 0.0,
                               input_tokens=d.get("input_tokens"),
                               output_tokens=d.get("output_tokens"))
        more = {k: v for k, v in d.items() if k not in _KNOWN}
        return cls(number=int(_number(d.get("number")) or 0), tag=str(d.get("tag") or ""),
                   metric=str(d.get("metric") or ""),
                   direction=str(d.get("direction") or "lower_is_better"),
                   description=str(d.get("description") or ""), decision=decision,
                   commit=commit, measurement=measurement, prev=_number(d.get("prev")),
                   error=d.get("error") if status == "crash" else None, agent=agent,
                   worker=d.get("worker"), base=d.get("base"),
                   rebased_from=d.get("rebased_from"), more=more,
                   timestamp=d.get("timestamp"), local_time=record.get("local_time"))


def _seed_commit(d: Mapping[str, Any]) -> str | None:
    """The seed's records have no ``full_commit``: their 7-character ``commit`` stands in."""
    short = d.get("commit")
    if "full_commit" in d or not isinstance(short, str) or short in ("", NO_COMMIT):
        return None
    return short


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
