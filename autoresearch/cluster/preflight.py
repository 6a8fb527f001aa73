"""Before the first experiment: a tiny job proves the cluster sees the experiment's tree."""

from __future__ import annotations

import tempfile
from pathlib import Path

from autoresearch.cluster.base import JobRunner
from autoresearch.cluster.transcript import new_token
from autoresearch.errors import EnvironmentProblem

PROBE_TIMEOUT_S = 120.0  # once running; the queue wait is the runner's queue_timeout


def check_tree_visible(runner: JobRunner, tree: Path, *, jobs_dir: Path, advice: str) -> None:
    """Run ``cat`` of a fresh file of ``tree`` as a job; EnvironmentProblem unless it prints
    the file's content. ``advice`` says what to do about it."""
    token = new_token()
    probe = tree / f".autoresearch-probe-{token}"
    try:
        probe.write_text(token)
    except OSError as exc:
        raise EnvironmentProblem(f"runner {runner.name}: cannot write to {tree}: "
                                 f"{exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryDirectory(prefix="autoresearch-probe-") as scratch:
            log = Path(scratch) / "probe.log"
            result = runner.run(f"cat {probe.name}", cwd=tree, log_path=log,
                                timeout=PROBE_TIMEOUT_S, jobs_dir=jobs_dir)
            seen = log.read_text(errors="replace")
    finally:
        probe.unlink(missing_ok=True)
    if token in seen:
        return
    where = f"job {result.job_id}" + (f" on node {result.node}" if result.node else "")
    lines = [line.strip() for line in seen.splitlines() if line.strip()]
    why = lines[-1] if lines else f"exit code {result.exit_code}, no output"
    if result.timed_out:
        raise EnvironmentProblem(f"runner {runner.name}: the probe {where} did not finish: "
                                 f"{why.strip('[]').removeprefix('autoresearch: ')}; check "
                                 "that the cluster has what ray_resources or slurm_args ask for")
    raise EnvironmentProblem(f"runner {runner.name}: {where} could not read {probe} ({why}); "
                             f"{advice}")
