"""runner: ray — each experiment is a Ray job, through the Jobs API of the cluster's dashboard.

The tree is shipped as the job's working_dir (see ``shipping``); the job's output streams back
(``tail_job_logs``) into the run log while it runs; the files the metric reads come back in
the wrapper's trailer. The submission id (``autoresearch-<token>``) is chosen and recorded
before the submission, and a job that must end is stopped with ``stop_job`` on the cluster:
stopping the local client would leave it running there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import autoresearch.cluster.records as records
import autoresearch.cluster.shipping as shipping
from autoresearch.cluster.base import MAX_LOG_BYTES, JobResult, Tick
from autoresearch.cluster.preflight import check_tree_visible
from autoresearch.cluster.supervise import supervise, wait_until
from autoresearch.cluster.transcript import Transcript, new_token, wrapped
from autoresearch.errors import EnvironmentProblem

STOP_WAIT_S = 15.0  # Ray sends SIGTERM, then SIGKILL after RAY_JOB_STOP_WAIT_TIME_S (3 s)
# Ray does not stop a job still pending (ray-project/ray#58353): it stops once it starts,
# or fails after RAY_JOB_START_TIMEOUT_SECONDS; its record stays for the next loop.
PENDING_STOP_WAIT_S = 3.0
DRAIN_S = 10.0  # after the end, how long the log stream may take to deliver its last chunk
# Up to this much output, a job whose trailer has not streamed in yet at its end is read
# again whole (one request) rather than waited for (the stream lags about a second).
REREAD_MAX_BYTES = 1024 * 1024
POLL_FAILURES = 10  # consecutive failed status requests before the cluster counts as gone
INSTALL = "pip install 'autoresearch[cluster]'"
_QUIET = {"ray": logging.WARNING, "ray.dashboard.modules.job.sdk": logging.WARNING,
          "ray.dashboard.modules.dashboard_sdk": logging.WARNING,
          "ray._private.runtime_env.packaging": logging.WARNING,
          # "'.git' is now ignored by default": we exclude it ourselves
          "ray._private.runtime_env.working_dir": logging.ERROR}


class RayRunner:
    name = "ray"

    def __init__(self, address: str | None = None, resources: Mapping[str, float] | None = None,
                 queue_timeout: float | None = None):
        self.address = address
        self.resources = dict(resources or {})
        self.queue_timeout = queue_timeout
        self._client: Any = None

    def preflight(self, tree: Path, *, jobs_dir: Path) -> None:
        self.client()
        check_tree_visible(self, tree, jobs_dir=jobs_dir, advice=(
            "the tree is shipped as the job's working_dir and run with python3 on the node; "
            "see docs/cluster.md"))

    def client(self) -> Any:
        """The Jobs API client (made once; it checks the cluster answers)."""
        if self._client is None:
            self._client = connect(self.address)
        return self._client

    def run(self, command: str, *, cwd: Path, log_path: Path, timeout: float, jobs_dir: Path,
            env: Mapping[str, str] | None = None, fetch: Sequence[str] = (),
            on_tick: Tick | None = None, max_log_bytes: int = MAX_LOG_BYTES) -> JobResult:
        client = self.client()
        shipment = shipping.plan(cwd)
        token = new_token()
        name = f"autoresearch-{token}"
        # Ray writes this line into the job's log, at an unpredictable point.
        transcript = Transcript(token, log_path, max_log_bytes,
                                drop=f"Running entrypoint for job {name}: ".encode())
        job = _RayJob(client, name, transcript)
        records.write(jobs_dir, name, self.name, address=client.get_address())
        # Ray unpacks identical packages once and runs their jobs in the same directory,
        # where an earlier (or concurrent) run's files would be: a stamp makes each unique
        # (the wrapper removes it before the command runs).
        stamp = cwd / f".autoresearch-job-{token}"
        try:
            stamp.write_text(name)
            _call(client.submit_job, entrypoint=wrapped(token, command, fetch, [stamp.name]),
                  submission_id=name, runtime_env={
                      "working_dir": str(cwd), "excludes": shipment.excludes,
                      "env_vars": {key: str(value) for key, value in (env or {}).items()}},
                  **entrypoint_resources(self.resources))
        except BaseException:
            transcript.log.close()
            # The submission may have gone through before the error (Ctrl-C during it).
            if not _exists(client, name) or job.stop():
                records.remove(jobs_dir, name)
            raise
        finally:
            stamp.unlink(missing_ok=True)
        job.follow_log()
        return supervise(job, transcript, cwd=cwd, jobs_dir=jobs_dir, timeout=timeout,
                         queue_timeout=self.queue_timeout or timeout, on_tick=on_tick)


def connect(address: str | None) -> Any:
    """A JobSubmissionClient for ``address`` (None: RAY_ADDRESS, else the local cluster)."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise EnvironmentProblem(f"runner ray needs Ray's job client: {INSTALL}") from None
    for name, level in _QUIET.items():  # the SDK logs every upload at INFO on stderr
        logging.getLogger(name).setLevel(level)
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError...: one line each
        where = address or "RAY_ADDRESS or the local cluster"
        raise EnvironmentProblem(f"runner ray: cannot reach the Ray cluster at {where} "
                                 f"({_one_line(exc)}); start one with 'ray start --head' or "
                                 "set ray_address to its dashboard (http://HEAD:8265)") from None


def entrypoint_resources(resources: Mapping[str, float]) -> dict[str, Any]:
    """submit_job's keyword arguments for ``ray_resources`` ({"GPU": 1, "CPU": 4, ...})."""
    named = {"CPU": "entrypoint_num_cpus", "GPU": "entrypoint_num_gpus",
             "memory": "entrypoint_memory"}
    kwargs: dict[str, Any] = {}
    custom = {}
    for resource, amount in resources.items():
        if resource == "memory":
            kwargs[named[resource]] = int(amount)
        elif resource in named:
            kwargs[named[resource]] = amount
        else:
            custom[resource] = amount
    if custom:
        kwargs["entrypoint_resources"] = custom
    return kwargs


class _RayJob:
    runner = "ray"

    def __init__(self, client: Any, name: str, transcript: Transcript):
        self.client = client
        self.name = self.job_id = name
        self.node: str | None = None
        self.transcript = transcript
        self._lock = threading.Lock()
        self._abandoned = False
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._status: Any = None
        self._stopped = False

    def follow_log(self) -> None:
        self._thread = threading.Thread(target=self._tail, daemon=True,
                                        name=f"ray-log-{self.name}")
        self._thread.start()

    def _tail(self) -> None:
        async def follow() -> None:
            async for chunk in self.client.tail_job_logs(self.name):
                with self._lock:
                    if self._abandoned:
                        return
                    self.transcript.feed(chunk.encode())

        try:
            asyncio.run(follow())
        except Exception:  # noqa: BLE001 - drain() falls back to the whole log
            pass

    def poll(self) -> str:
        if self._complete():  # the wrapper reported the end: the status will follow
            return "done"
        try:
            self._status = self.client.get_job_status(self.name)
            self._failures = 0
        except Exception as exc:  # noqa: BLE001 - a dashboard restart is a blip, not an end
            self._failures += 1
            if self._failures >= POLL_FAILURES:
                raise EnvironmentProblem(f"runner ray: lost the cluster while job {self.name} "
                                         f"ran ({_one_line(exc)})") from None
            return "running" if self._status is None else self._state()
        return self._state()

    def _state(self) -> str:
        if self._status.is_terminal():
            return "done"
        return "pending" if self._status.value == "PENDING" else "running"

    def stop(self) -> bool:
        self._stopped = True  # no trailer will come: drain() does not wait for it
        pending = self._status is not None and self._status.value == "PENDING"
        try:
            self.client.stop_job(self.name)
            return wait_until(lambda: self.client.get_job_status(self.name).is_terminal(),
                              PENDING_STOP_WAIT_S if pending else STOP_WAIT_S)
        except Exception:  # noqa: BLE001 - unreachable: the record stays for the next loop
            return False

    def drain(self) -> None:
        # The stream closes a second or two after the end; the trailer is all we wait for.
        if not self._stopped and self.transcript.received > REREAD_MAX_BYTES:
            wait_until(lambda: self._complete() or not self._thread.is_alive(), DRAIN_S)
        with self._lock:
            self._abandoned = True
        if not self.transcript.complete:  # the stream lost the end: read the whole log
            try:
                self.transcript.replay(self.client.get_job_logs(self.name).encode())
            except Exception:  # noqa: BLE001 - keep what was streamed
                pass

    def _complete(self) -> bool:
        with self._lock:
            return self.transcript.complete

    def exit_code(self) -> int | None:
        try:
            return self.client.get_job_info(self.name).driver_exit_code
        except Exception:  # noqa: BLE001
            return None


def cancel_recorded(record: dict[str, Any]) -> bool | None:
    """Stop the recorded job if its cluster still runs it: True when stopped, False when
    there is nothing to stop, None when the cluster cannot be asked (keep the record)."""
    try:
        client = connect(record.get("address"))
    except EnvironmentProblem:
        return None
    try:
        if client.get_job_status(record["name"]).is_terminal():
            return False
    except Exception:  # noqa: BLE001 - never submitted (killed before), or deleted
        return False
    return _RayJob(client, record["name"], None).stop() or None  # type: ignore[arg-type]


def _exists(client: Any, name: str) -> bool:
    try:
        client.get_job_status(name)
        return True
    except Exception:  # noqa: BLE001
        return False


def _call(function, **kwargs) -> Any:
    """A Jobs API call whose failure is one line."""
    try:
        return function(**kwargs)
    except (RuntimeError, ValueError, ConnectionError, OSError) as exc:
        raise EnvironmentProblem(f"runner ray: the cluster refused the job: {_one_line(exc)}") \
            from None


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
