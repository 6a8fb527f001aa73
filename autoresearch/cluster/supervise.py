"""Wait for a cluster job like runner.run waits for a process: a time limit, ticks, and a
stop on the cluster (not just of a local client) after a timeout, Ctrl-C or SIGTERM.

The timeout counts from the moment the job runs: time in the scheduler's queue is bounded
separately by ``queue_timeout``, so a busy cluster does not turn experiments into timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from autoresearch import runner
import autoresearch.cluster.records as records
from autoresearch.cluster.base import ClusterJob, JobResult, Tick
from autoresearch.cluster.transcript import Transcript, unpack

POLL_MIN_S = 0.1  # first polls come quickly: most of a trivial job's cost is noticing its end
POLL_MAX_S = 0.5


def supervise(job: ClusterJob, transcript: Transcript, *, cwd: Path, jobs_dir: Path,
              timeout: float, queue_timeout: float, on_tick: Tick | None) -> JobResult:
    """Follow ``job`` to its end or its timeout; stop it on the cluster when it must end."""
    clock = _Clock(timeout, queue_timeout)
    try:
        state = _follow(job, clock, on_tick)
    except BaseException as exc:
        stopped = job.stop()
        _finish(job, transcript, cwd, fetch=False, note=None)
        if stopped:
            records.remove(jobs_dir, job.name)
        exc.add_note(f"{job.runner} job {job.job_id} "
                     + ("stopped on the cluster" if stopped
                        else "may still run: the next loop cancels it when it starts"))
        raise
    timed_out = state != "done"
    ran_s = clock.running_s()
    cancelled = timed_out and job.stop()
    note = None
    if timed_out:
        note = clock.why_stopped(state) + ("; the job was stopped on the cluster" if cancelled
                                           else "; the cluster did not confirm it stopped")
    trailer = _finish(job, transcript, cwd, fetch=not timed_out, note=note)
    if not timed_out or cancelled:
        records.remove(jobs_dir, job.name)
    return JobResult(
        exit_code=None if timed_out else (trailer.exit_code if trailer.exit_code is not None
                                          else job.exit_code()),
        timed_out=timed_out,
        duration_s=trailer.duration_s if trailer.duration_s is not None else ran_s,
        peak_rss_mb=0.0,  # measured on the node by the scheduler, not here
        log_truncated=bool(transcript.log.omitted),
        job_id=job.job_id, node=trailer.node or job.node, cancelled=cancelled)


def _follow(job: ClusterJob, clock: _Clock, on_tick: Tick | None) -> str:
    """Poll until the job is done ("done") or over a limit (its state then)."""
    pause = POLL_MIN_S
    next_tick = 1.0
    while True:
        state = job.poll()
        if state == "done" or clock.over(state):
            return state
        elapsed = clock.elapsed()
        if on_tick is not None and elapsed >= next_tick:
            on_tick(elapsed)
            next_tick = int(elapsed) + 1.0
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MAX_S)


def _finish(job: ClusterJob, transcript: Transcript, cwd: Path, *, fetch: bool,
            note: str | None):
    """Drain the output, unpack the fetched files, add ``note``, close and redact the log."""
    try:
        job.drain()
        trailer = transcript.finish()
        for line in (unpack(trailer.payload, cwd) if fetch else None, note):
            if line:
                transcript.note(line)
    finally:
        transcript.log.close()
    runner.redact_file(transcript.log.path)
    return trailer


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    pause = POLL_MIN_S
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MAX_S)
    return True


class _Clock:
    def __init__(self, timeout: float, queue_timeout: float):
        self.timeout = timeout
        self.queue_timeout = queue_timeout
        self.start = time.monotonic()
        self.running_since: float | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def running_s(self) -> float:
        return 0.0 if self.running_since is None else time.monotonic() - self.running_since

    def over(self, state: str) -> bool:
        now = time.monotonic()
        if state == "running" and self.running_since is None:
            self.running_since = now
        if self.running_since is None:
            return now - self.start >= self.queue_timeout
        return now - self.running_since >= self.timeout

    def why_stopped(self, state: str) -> str:
        if state == "pending":
            return (f"the job waited {self.elapsed():.0f} s in the queue without starting "
                    f"(queue_timeout {self.queue_timeout:g} s)")
        return f"timeout: the job ran longer than {self.timeout:g} s"
