"""A digest of the experiment log (the ledger, or the JSONL log before one exists) per tag, brought up to date incrementally.

Parsing every line of a 100,000-experiment log takes seconds, but ``autoresearch
results`` needs only counts, sums, the kept experiments and where each experiment's line
starts (to read the few rows it shows). A ``TagDigest`` holds exactly that.

The digest of the whole log (``LogIndex``) is cached in the state directory
(``results-index.json``) with the number of bytes it covers and SHA-1 fingerprints of the first and the last 4 KiB
of them. The next call parses only the lines appended since; a log that shrank or whose
fingerprinted bytes changed is digested again from its start. The cache is only an
optimisation: it is written only when the state directory exists (after ``setup``), so
reading results creates nothing, and when it cannot be read or written the digest is built
from the log alone.

Lines are parsed by the ledger's one parser (``ledger.parse_lines``): split on b"\\n"; blank
lines are ignored; a line that is not a JSON object with tool "autoresearch" and object
details is counted as skipped. Each experiment is read as a typed ``Experiment``
(``Experiment.from_record``). A last line without its newline may still be being written: it is
digested for this call but never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autoresearch.decide import DIRECTIONS
from autoresearch.experiment import Experiment
from autoresearch.ledger import EVENTS_FILE, parse_lines
from autoresearch.state import find

INDEX_FILE = "results-index.json"  # in the state directory
VERSION = 3  # bump when the cached shape changes: older caches are then rebuilt
FINGERPRINT_BYTES = 4096
CODES = {"keep": "k", "discard": "d", "crash": "c"}  # one character per experiment


def number(value) -> float | None:
    """A JSON number as float; None for null, booleans and anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _add(total: float | None, value) -> float | None:
    """``total + value``, where a missing value leaves the total (None until one is seen)."""
    value = number(value)
    return total if value is None else (total or 0.0) + value


def seconds_of(experiment: Experiment) -> tuple[float | None, float | None]:
    """(run seconds, agent seconds) of an experiment; None where the log does not say."""
    run = experiment.measurement.duration_s if experiment.measurement else None
    agent = experiment.agent.seconds if experiment.agent else None
    return run or None, agent


def flags_of(experiment: Experiment) -> tuple[str, ...]:
    """The audit's flags on an experiment (``more["flags"]``: short words), if any."""
    flags = experiment.more.get("flags")
    return tuple(str(flag) for flag in flags) if isinstance(flags, list) else ()


@dataclass
class TagDigest:
    """What the summary and the row selection need about one tag's experiments.

    A *position* is an experiment's index among the tag's experiments (0-based); a
    *location* says where its record is: a byte offset in the log, or an index into the
    list of records the digest was made from.
    """

    count: int = 0
    codes: list[str] = field(default_factory=list)  # status code per position
    locations: list[int] = field(default_factory=list)  # location per position
    baselines: int = 0  # keeps with no previous best
    failed_baselines: int = 0  # crashes before the first keep: baselines that did not run
    baseline: float | None = None  # value of the first baseline
    best: dict = field(default_factory=dict)  # value, commit, description of the last keep
    keep_positions: list[int] = field(default_factory=list)
    keep_values: list[float] = field(default_factory=list)
    seconds: float | None = None  # sum of duration_s and agent_s
    cost: float | None = None  # sum of agent_cost_usd
    newest: dict = field(default_factory=dict)  # metric, direction, noise_floor, tag
    direction_hint: str | None = None  # from the first keep that moved the value
    calibrated: float | None = None  # noise floor of the newest calibration
    flagged: list[list] = field(default_factory=list)  # [number, commit, flags] per flagged keep

    def add_experiment(self, experiment: Experiment, location: int, *,
                       logs_direction: bool = True) -> None:
        """Count one experiment; ``logs_direction`` is False for the seed's records, which
        do not say which direction is better (the deltas of the keeps then tell)."""
        status = experiment.status
        self.codes.append(CODES.get(status, "?"))
        self.locations.append(location)
        if status == "keep":
            self._add_keep(experiment)
        elif not self.best:
            self.failed_baselines += 1
        run, agent = seconds_of(experiment)
        self.seconds = _add(_add(self.seconds, run), agent)
        self.cost = _add(self.cost, experiment.agent.cost_usd if experiment.agent else None)
        self.newest = {"metric": experiment.metric or None,
                       "direction": experiment.direction if logs_direction else None,
                       "noise_floor": experiment.more.get("noise_floor"),
                       "tag": experiment.tag or None}
        self.count += 1

    def _add_keep(self, experiment: Experiment) -> None:
        value = experiment.value
        if experiment.prev is None:
            self.baselines += 1
            if self.baselines == 1:
                self.baseline = value
        if value is not None:
            self.keep_positions.append(self.count)
            self.keep_values.append(value)
        self.best = {"value": value, "commit": experiment.short_commit,
                     "description": experiment.description}
        delta = experiment.delta
        if self.direction_hint is None and delta:
            self.direction_hint = "higher_is_better" if delta > 0 else "lower_is_better"
        flags = flags_of(experiment)
        if flags:
            self.flagged.append([experiment.number or self.count + 1,
                                 experiment.short_commit, list(flags)])

    def add_calibration(self, details: dict) -> None:
        floor = number(details.get("noise_floor"))
        if floor is not None:
            self.calibrated = floor

    def add_record(self, record: dict, location: int) -> None:
        """Count an experiment_done or calibration record; others are not this digest's."""
        if record.get("action") == "experiment_done":
            self.add_experiment(Experiment.from_record(record), location,
                                logs_direction="direction" in record["details"])
        elif record.get("action") == "calibration":
            self.add_calibration(record["details"])

    @property
    def direction(self) -> str:
        """The newest logged direction, else the hint from the deltas, else lower is better."""
        logged = self.newest.get("direction")
        if logged in DIRECTIONS:
            return logged
        return self.direction_hint or "lower_is_better"

    @property
    def noise_floor(self) -> float | None:
        """The newest experiment's noise floor, else the newest calibration's."""
        logged = number(self.newest.get("noise_floor"))
        return self.calibrated if logged is None else logged

    def select(self, status: str | None, last: int | None) -> list[tuple[int, int]]:
        """(position, location) of the experiments with ``status``, only the last ``last``."""
        if status is None:
            start = max(0, self.count - last) if last else 0
            return [(p, self.locations[p]) for p in range(start, self.count)]
        code = CODES[status]
        chosen = [p for p, c in enumerate(self.codes) if c == code]
        return [(p, self.locations[p]) for p in (chosen[-last:] if last else chosen)]

    def to_json(self) -> dict:
        return {**vars(self), "codes": "".join(self.codes)}

    @classmethod
    def from_json(cls, data: dict) -> "TagDigest":
        return cls(**{**data, "codes": list(data["codes"])})


def digest_records(records: list[dict]) -> TagDigest:
    """One digest of a list of records (locations are list indexes), whatever their tags."""
    digest = TagDigest()
    for location, record in enumerate(records):
        digest.add_record(record, location)
    return digest


def parse_record(line: bytes) -> dict | None:
    """An autoresearch record (tool "autoresearch", object details), else None: the
    ledger's own parser, for one line."""
    records, _ = parse_lines([line])
    return records[0] if records else None


def _tag_key(tag) -> str:
    """Tags are JSON object keys in the cache; "" stands for records without a tag."""
    return tag if isinstance(tag, str) else ""


@dataclass
class LogIndex:
    """The digest of every tag in the log, up to byte ``size`` (a line boundary)."""

    size: int = 0
    head: str = ""  # fingerprint of the first FINGERPRINT_BYTES up to size
    tail: str = ""  # fingerprint of the last FINGERPRINT_BYTES before size
    skipped: int = 0
    latest_tag: str | None = None  # of the newest experiment_done or session_start
    tags: dict[str, TagDigest] = field(default_factory=dict)

    def tag(self, tag: str | None) -> TagDigest:
        """The digest of ``tag`` (None: records without a tag); empty when unknown."""
        return self.tags.get(_tag_key(tag), TagDigest())

    def add_line(self, line: bytes, location: int) -> None:
        if not line.strip():
            return
        record = parse_record(line)
        if record is None:
            self.skipped += 1
            return
        self.add_record(record, location)

    def add_record(self, record: dict, location: int) -> None:
        """Count one parsed record (an experiment or a calibration; others only move
        ``latest_tag``); ``location`` is where the experiment's record can be found again."""
        action = record.get("action")
        key = _tag_key(record["details"].get("tag"))
        if action in ("experiment_done", "calibration"):
            self.tags.setdefault(key, TagDigest()).add_record(record, location)
        if action in ("experiment_done", "session_start") and key:
            self.latest_tag = key

    def add_lines(self, chunk: bytes, start: int) -> None:
        """Digest complete lines (without the last newline) beginning at byte ``start``."""
        location = start
        for line in chunk.split(b"\n"):
            self.add_line(line, location)
            location += len(line) + 1

    def to_json(self) -> dict:
        return {**vars(self), "version": VERSION,
                "tags": {key: digest.to_json() for key, digest in self.tags.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "LogIndex":
        if data.pop("version", None) != VERSION:
            raise ValueError("an index of another version")
        tags = {key: TagDigest.from_json(value) for key, value in data.pop("tags").items()}
        return cls(**data, tags=tags)


def _fingerprints(file, size: int) -> tuple[str, str]:
    """SHA-1 of the first and of the last FINGERPRINT_BYTES of the file's first ``size`` bytes."""
    file.seek(0)
    head = file.read(min(size, FINGERPRINT_BYTES))
    file.seek(max(0, size - FINGERPRINT_BYTES))
    tail = file.read(min(size, FINGERPRINT_BYTES))
    return hashlib.sha1(head).hexdigest(), hashlib.sha1(tail).hexdigest()


@dataclass(frozen=True)
class LogSource:
    """The log results read: the ledger, or the JSONL mirror of a project that has none yet;
    and where the digest is cached (None: not at all, so reading creates nothing)."""

    path: Path
    cache: Path | None


def source_of(project_dir: Path) -> LogSource:
    layout = find(project_dir)
    if layout is None:
        return LogSource(project_dir / EVENTS_FILE, None)
    cache = layout.state / INDEX_FILE if layout.state.is_dir() else None
    path = layout.ledger if layout.ledger.exists() else layout.events
    return LogSource(path, cache)


def _cached(source: LogSource, file) -> LogIndex:
    """The cached index when it still describes the start of ``file``, else an empty one."""
    if source.cache is None:
        return LogIndex()
    try:
        data = json.loads(source.cache.read_bytes())
        index = LogIndex.from_json(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return LogIndex()
    if os.fstat(file.fileno()).st_size < index.size:
        return LogIndex()
    if _fingerprints(file, index.size) != (index.head, index.tail):
        return LogIndex()
    return index


def _save(source: LogSource, index: LogIndex) -> None:
    """Write the cache atomically; do nothing when there is none or it is unwritable."""
    path = source.cache
    if path is None or not path.parent.is_dir():
        return
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".results-index.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(index.to_json(), handle, separators=(",", ":"))
        os.replace(temp, path)
    except OSError:  # a cache that cannot be written only costs speed
        Path(temp).unlink(missing_ok=True)


def load_index(source: LogSource) -> LogIndex:
    """The digest of the log, updated with the lines appended since the cache."""
    try:
        file = source.path.open("rb")
    except FileNotFoundError:
        return LogIndex()
    with file:
        index = _cached(source, file)
        file.seek(index.size)
        chunk = file.read()
        complete, newline, pending = chunk.rpartition(b"\n")
        if newline:
            index.add_lines(complete, index.size)
            index.size += len(complete) + 1
            index.head, index.tail = _fingerprints(file, index.size)
            _save(source, index)
    index.add_line(pending, index.size)  # in memory only: it may still be being written
    return index


def read_records(source: LogSource, locations: list[int]) -> list[dict | None]:
    """The records whose lines start at these byte offsets (None where one is unreadable)."""
    records: list[dict | None] = []
    if not locations:
        return records
    with source.path.open("rb") as file:
        for location in locations:
            file.seek(location)
            records.append(parse_record(file.readline()))
    return records
