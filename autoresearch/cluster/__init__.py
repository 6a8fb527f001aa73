"""Where an experiment runs: this machine, a command prefix, a Ray cluster or Slurm.

The engine asks :func:`from_config` for a :class:`JobRunner` and calls its ``run`` where it
called ``runner.run``; a loop that starts calls :func:`cancel_leftovers` on the jobs
directory to cancel the cluster jobs a killed loop left running.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoresearch.cluster import ray_jobs, records, slurm
from autoresearch.cluster.base import JobResult, JobRunner
from autoresearch.cluster.local import LocalRunner, PrefixRunner, SealedRunner
from autoresearch.errors import ConfigError
from autoresearch.cluster.ray_jobs import RayRunner
from autoresearch.cluster.slurm import SlurmRunner

__all__ = ["JobResult", "JobRunner", "LocalRunner", "PrefixRunner", "RayRunner", "SealedRunner",
           "SlurmRunner",
           "cancel_leftovers", "fetch_globs", "from_config"]
NAMES = ("local", "ray", "slurm")  # any other value of the runner key is a command prefix
_CANCEL = {"ray": ray_jobs.cancel_recorded, "slurm": slurm.cancel_recorded}


def from_config(config: Any, hidden: Sequence[Path] = ()) -> JobRunner:
    """The runner the ``runner`` key names (unset: local), set up from the other keys;
    ``hidden``: what a run sealed by ``sandbox_run: strict`` must not reach."""
    name = config.runner or "local"
    if config.sandbox_run == "strict":
        if name != "local":
            raise ConfigError(f"sandbox_run: strict seals a run on this machine; with runner "
                              f"'{name}' the experiment runs elsewhere: use the cluster's own "
                              "isolation, or set sandbox_run: basic")
        return SealedRunner(hidden)
    if name == "local":
        return LocalRunner()
    if name == "ray":
        return RayRunner(config.ray_address, config.ray_resources, config.queue_timeout)
    if name == "slurm":
        return SlurmRunner(config.slurm_args, config.queue_timeout)
    return PrefixRunner(name)


def fetch_globs(config: Any) -> tuple[str, ...]:
    """The files a cluster job sends back: the metric's own file(s) and ``fetch_files``."""
    found = list(config.fetch_files)
    if config.metric_source in ("json", "size") and config.metric_file:
        found += [part.strip() for part in config.metric_file.split(",") if part.strip()]
    return tuple(dict.fromkeys(found))


def cancel_leftovers(jobs_dir: Path) -> list[str]:
    """Cancel the recorded jobs a killed loop left on its cluster; return what was cancelled.

    A record is removed once its job is known to be over; one whose cluster cannot be
    asked now stays for the next start.
    """
    cancelled = []
    for path, record in records.recorded(jobs_dir):
        cancel = _CANCEL.get(record.get("runner"))
        outcome = cancel(record) if cancel is not None else False
        if outcome is None:
            continue
        path.unlink(missing_ok=True)
        if outcome:
            cancelled.append(f"{record['runner']} job {record.get('job_id') or record['name']}")
    return cancelled
