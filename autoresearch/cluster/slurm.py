"""runner: slurm — each experiment is a Slurm batch job (sbatch), cancelled with scancel.

The job runs in the experiment's own tree, which the compute nodes must see (a shared
filesystem: nothing is copied); ``preflight`` checks that they do. The job writes its output
to a hidden file in that tree, read as it grows and removed afterwards; the state and exit
code come from ``scontrol show job``. The job's name (``autoresearch-<token>``) is recorded
before sbatch runs, so ``scancel --name`` reaches it even if the loop dies before sbatch
answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import autoresearch.cluster.records as records
from autoresearch.cluster.base import MAX_LOG_BYTES, JobResult, Tick
from autoresearch.cluster.preflight import check_tree_visible
from autoresearch.cluster.supervise import supervise, wait_until
from autoresearch.cluster.transcript import Transcript, new_token, wrapped
from autoresearch.errors import EnvironmentProblem, UserError

COMMANDS = ("sbatch", "scontrol", "scancel")
STOP_WAIT_S = 30.0  # scancel signals at once; KillWait (default 30 s) bounds the SIGKILL
COMMAND_TIMEOUT_S = 60.0  # a controller that does not answer within this is down
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
         "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED"}
WAITING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}


class SlurmRunner:
    name = "slurm"

    def __init__(self, args: Sequence[str] = (), queue_timeout: float | None = None):
        self.args = list(args)
        self.queue_timeout = queue_timeout

    def preflight(self, tree: Path, *, jobs_dir: Path) -> None:
        for command in COMMANDS:
            if shutil.which(command) is None:
                raise EnvironmentProblem(f"runner slurm: '{command}' is not on PATH; install "
                                         "Slurm's client tools (Debian: slurm-client) or "
                                         "choose another runner")
        check_tree_visible(self, tree, jobs_dir=jobs_dir, advice=(
            "the experiment's tree must be on a filesystem the compute nodes share: put the "
            "project (or work_dir) there"))

    def run(self, command: str, *, cwd: Path, log_path: Path, timeout: float, jobs_dir: Path,
            env: Mapping[str, str] | None = None, fetch: Sequence[str] = (),
            on_tick: Tick | None = None, max_log_bytes: int = MAX_LOG_BYTES) -> JobResult:
        # fetch needs nothing: the job wrote its files into the shared tree itself.
        token = new_token()
        transcript = Transcript(token, log_path, max_log_bytes)
        job = _SlurmJob(f"autoresearch-{token}", cwd, transcript)
        records.write(jobs_dir, job.name, self.name)
        try:
            job.submit(wrapped(token, command), self.args, env)
        except BaseException:
            transcript.log.close()
            job.forget()
            # sbatch may have submitted the job before the error (Ctrl-C during it).
            if cancel_recorded({"name": job.name}) is not None:
                records.remove(jobs_dir, job.name)
            raise
        records.write(jobs_dir, job.name, self.name, job_id=job.job_id)
        return supervise(job, transcript, cwd=cwd, jobs_dir=jobs_dir, timeout=timeout,
                         queue_timeout=self.queue_timeout or timeout, on_tick=on_tick)


class _SlurmJob:
    runner = "slurm"

    def __init__(self, name: str, cwd: Path, transcript: Transcript):
        self.name = name
        self.cwd = cwd
        self.output = cwd / f".{name}.out"
        self.transcript = transcript
        self.job_id = ""
        self.node: str | None = None
        self._read = 0
        self._info: dict[str, str] = {}

    def submit(self, command: str, args: Sequence[str], env: Mapping[str, str] | None) -> None:
        argv = ["sbatch", "--parsable", f"--job-name={self.name}", f"--chdir={self.cwd}",
                f"--output={self.output}", *args, f"--wrap={command}"]
        done = _slurm(argv, env=env)
        if done.returncode != 0:
            raise EnvironmentProblem(
                f"runner slurm: sbatch refused the job (slurm_args: {' '.join(args) or 'none'}):"
                f" {_first_line(done.stderr) or f'exit code {done.returncode}'}")
        self.job_id = done.stdout.strip().split(";")[0]

    def poll(self) -> str:
        self._pump()
        self._info = _show_job(self.job_id) or {"JobState": "COMPLETED"}  # purged: long over
        self.node = _node(self._info) or self.node
        state = self._info.get("JobState", "")
        if state in ENDED:
            return "done"
        return "pending" if state in WAITING else "running"

    def stop(self) -> bool:
        try:
            _slurm(["scancel", self.job_id])
            return wait_until(lambda: self.poll() == "done", STOP_WAIT_S)
        except UserError:  # the controller is unreachable: the record stays for the next loop
            return False

    def drain(self) -> None:
        self._pump()
        self.forget()

    def forget(self) -> None:
        self.output.unlink(missing_ok=True)

    def exit_code(self) -> int | None:
        code, _, signal = self._info.get("ExitCode", "").partition(":")
        if not code.isdigit():
            return None
        return -int(signal) if signal.isdigit() and int(signal) else int(code)

    def _pump(self) -> None:
        """Copy what the job wrote to its output file since the last look."""
        try:
            with self.output.open("rb") as file:  # opened each time: NFS close-to-open
                file.seek(self._read)
                data = file.read()
        except FileNotFoundError:
            return
        self._read += len(data)
        if data:
            self.transcript.feed(data)


def cancel_recorded(record: dict[str, Any]) -> bool | None:
    """Cancel the recorded job if Slurm still has it: True when cancelled, False when there
    is nothing to cancel, None when Slurm cannot be asked or did not end it (keep the
    record)."""
    name = record["name"]
    try:
        if not _active(name):
            return False
        _slurm(["scancel", f"--name={name}"])
        return wait_until(lambda: not _active(name), STOP_WAIT_S) or None
    except UserError:
        return None


def _active(name: str) -> bool:
    """Whether Slurm has a job called ``name`` pending, running or completing."""
    listed = _slurm(["squeue", "--noheader", f"--name={name}", "--format=%i"])
    if listed.returncode != 0:
        raise EnvironmentProblem(f"runner slurm: squeue failed: {_first_line(listed.stderr)}")
    return bool(listed.stdout.strip())


def _show_job(job_id: str) -> dict[str, str] | None:
    """``scontrol show job`` as a dict; None once Slurm forgot the job (MinJobAge)."""
    done = _slurm(["scontrol", "--oneliner", "show", "job", job_id])
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:
            return None
        raise EnvironmentProblem(f"runner slurm: scontrol show job {job_id} failed: "
                                 f"{_first_line(done.stderr)}")
    fields = {}
    for word in done.stdout.split():
        key, sep, value = word.partition("=")
        if sep and key not in fields:
            fields[key] = value
    return fields


def _node(info: Mapping[str, str]) -> str | None:
    node = info.get("BatchHost") or info.get("NodeList")
    return None if node in (None, "", "(null)", "None") else node


def _slurm(argv: list[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=False,
                              env={**os.environ, **env} if env is not None else None)
    except FileNotFoundError:
        raise EnvironmentProblem(f"runner slurm: '{argv[0]}' is not on PATH; install "
                                 "Slurm's client tools or choose another runner") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"runner slurm: '{' '.join(argv[:2])}' did not answer within "
                                 f"{COMMAND_TIMEOUT_S:g} s; is slurmctld up?") from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""
