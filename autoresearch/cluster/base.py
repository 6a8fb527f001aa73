"""Where an experiment runs: the interface every runner (local, prefix, ray, slurm) offers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autoresearch.runner import RunResult

MAX_LOG_BYTES = 20 * 1024 * 1024
Tick = Callable[[float], None]


@dataclass(frozen=True)
class JobResult(RunResult):
    """``runner.RunResult`` and where the experiment ran.

    ``exit_code`` is None when the run reached its timeout (as for a local run);
    ``cancelled`` says the cluster confirmed the job stopped (after a timeout).
    """

    job_id: str | None = None  # the scheduler's id (Slurm job number, Ray submission id)
    node: str | None = None  # the host the command ran on
    cancelled: bool = False


class JobRunner(Protocol):
    name: str  # "local", "prefix", "ray", "slurm"

    def preflight(self, tree: Path, *, jobs_dir: Path) -> None:
        """Raise a one-line UserError when experiments in ``tree`` cannot run here."""

    def run(self, command: str, *, cwd: Path, log_path: Path, timeout: float, jobs_dir: Path,
            env: Mapping[str, str] | None = None, fetch: Sequence[str] = (),
            on_tick: Tick | None = None, max_log_bytes: int = MAX_LOG_BYTES) -> JobResult:
        """Run ``command`` (a shell command line) in ``cwd`` and wait for it.

        Output streams into ``log_path``; ``env`` is layered over the environment; the
        files matching the ``fetch`` globs (relative to ``cwd``) are in ``cwd`` afterwards;
        ``on_tick`` gets the seconds since the start about once a second (an exception it
        raises stops the run like Ctrl-C). A job in flight is recorded in ``jobs_dir``.
        On any exception while waiting the job is stopped, then the exception re-raised.
        """
        ...


class ClusterJob(Protocol):
    """One submitted job, as :func:`supervise.supervise` drives it."""

    runner: str
    name: str  # the tool's name for it, recorded in the jobs directory before submission
    job_id: str  # the scheduler's id
    node: str | None  # where it runs, once the scheduler says so

    def poll(self) -> str:
        """"pending", "running" or "done"; copies new output into the transcript."""

    def stop(self) -> bool:
        """Ask the cluster to stop the job; True once it reports the job ended."""

    def drain(self) -> None:
        """After the end: the rest of the output into the transcript."""

    def exit_code(self) -> int | None:
        """The scheduler's exit code, for a job whose wrapper did not report one."""
