"""runner unset (local) and runner: PREFIX — the experiment as a process of this machine.

A prefix (``srun --gres=gpu:1 --``, ``sky exec mycluster --``, ``ssh gpu1``) runs
``PREFIX /bin/sh -c 'COMMAND'``: the prefix's client is the local process, and killing it
is all a timeout or Ctrl-C can do (docs/cluster.md says which schedulers then stop the
remote command). Files come back only through a shared filesystem.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from autoresearch import runner, sandbox
from autoresearch.children import ChildRegistry
from autoresearch.cluster.base import MAX_LOG_BYTES, JobResult, Tick
from autoresearch.errors import ConfigError, EnvironmentProblem


class LocalRunner:
    name = "local"

    def preflight(self, tree: Path, *, jobs_dir: Path) -> None:
        pass

    def run(self, command: str, *, cwd: Path, log_path: Path, timeout: float, jobs_dir: Path,
            env: Mapping[str, str] | None = None, fetch: Sequence[str] = (),
            on_tick: Tick | None = None, max_log_bytes: int = MAX_LOG_BYTES) -> JobResult:
        # The process is recorded in jobs_dir while it runs: a restarted loop ends it.
        result = runner.run(self.command_line(command), cwd=cwd, timeout=timeout,
                            stdout_path=log_path, env=env, max_log_bytes=max_log_bytes,
                            on_tick=on_tick, children=ChildRegistry(jobs_dir))
        return JobResult(**asdict(result), node=self.node())

    def command_line(self, command: str) -> str:
        return command

    def node(self) -> str | None:
        return socket.gethostname()


class SealedRunner(LocalRunner):
    """``sandbox_run: strict``: the run on this machine under bubblewrap, the git directory
    (and the tool's state in it) hidden (sandbox.wrap_run)."""

    name = "local, sealed"

    def __init__(self, hidden: Sequence[Path]):
        self.hidden = tuple(hidden)

    def preflight(self, tree: Path, *, jobs_dir: Path) -> None:
        sandbox.probe("strict")  # an EnvironmentProblem naming the install when it cannot run

    def seal(self, command: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
        """``command`` as a shell command line that runs it sealed in ``cwd`` (also used for
        check_command, metric_parse and the holdout: all run the candidate's code)."""
        return shlex.join(sandbox.wrap_run(["/bin/sh", "-c", command], tree=cwd,
                                           hidden=self.hidden,
                                           environ={**os.environ, **(env or {})}))

    def run(self, command: str, *, cwd: Path, log_path: Path, timeout: float, jobs_dir: Path,
            env: Mapping[str, str] | None = None, fetch: Sequence[str] = (),
            on_tick: Tick | None = None, max_log_bytes: int = MAX_LOG_BYTES) -> JobResult:
        return super().run(self.seal(command, cwd, env), cwd=cwd, log_path=log_path, timeout=timeout,
                           jobs_dir=jobs_dir, env=env, fetch=fetch, on_tick=on_tick,
                           max_log_bytes=max_log_bytes)


class PrefixRunner(LocalRunner):
    name = "prefix"

    def __init__(self, prefix: str):
        try:
            self.argv = shlex.split(prefix)
        except ValueError as exc:
            raise ConfigError(f"runner: {prefix!r} is not a valid command prefix ({exc})") \
                from None
        self.prefix = prefix

    def preflight(self, tree: Path, *, jobs_dir: Path) -> None:
        if self.argv and shutil.which(self.argv[0]) is None:
            raise EnvironmentProblem(f"runner: '{self.argv[0]}' (from '{self.prefix}') is not "
                                     "on PATH; install it, or use runner: ray or slurm")

    def command_line(self, command: str) -> str:
        return f"{self.prefix} /bin/sh -c {shlex.quote(command)}"

    def node(self) -> str | None:
        return None  # wherever the prefix sent it
