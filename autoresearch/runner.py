"""Run one command under a time limit and leave nothing of it behind.

The command runs in a session of its own. Its output goes to a log file that keeps
only the first and last half of ``max_log_bytes``, read by threads so the command never
blocks on a full pipe. While it runs, the whole process tree is sampled for peak memory;
when it times out, is interrupted, or simply finishes, every process of the tree that is
still alive (including descendants that moved to a session of their own) is sent SIGTERM,
then SIGKILL after a grace period.

POSIX only (sessions, process groups and signals).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from autoresearch.children import ChildRegistry
from autoresearch.errors import EnvironmentProblem

SAMPLE_INTERVAL_S = 0.1  # how often the tree is sampled for memory and descendants
CHUNK_BYTES = 64 * 1024
DRAIN_S = 2.0  # after the tree is gone, how long to keep reading a pipe something still writes to
KILL_WAIT_S = 5.0  # how long to wait for SIGKILL to take effect
POLL_S = 0.02  # how often to check whether signalled processes are gone
MIB = 1024 * 1024
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_SECRET_MIN_CHARS = 8  # shorter values would redact ordinary words
REDACTED = "[redacted]"


@dataclass(frozen=True)
class RunResult:
    """What happened to one command.

    ``exit_code`` is the command's return code after a normal exit (negative ``-N`` when
    signal N ended it, as ``subprocess`` reports it) and ``None`` when we killed it at the
    timeout.
    """

    exit_code: int | None
    timed_out: bool
    duration_s: float  # wall seconds from start to exit (or to the timeout)
    peak_rss_mb: float  # peak summed RSS of the tree, MiB; 0.0 if it ended before a sample
    log_truncated: bool  # True when the head+tail bound cut the output


class _BoundedLog:
    """A log file that keeps the first and the last half of ``max_bytes`` written to it."""

    def __init__(self, path: Path, max_bytes: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("wb", buffering=0)  # unbuffered: the head is visible live
        self._head_left = max_bytes // 2
        self._tail_max = max_bytes - self._head_left
        self._tail = bytearray()
        self.omitted = 0
        self.error: OSError | None = None

    def write(self, data: bytes) -> None:
        """Append ``data``; a write error is remembered and later data is dropped."""
        if self.error:
            return
        try:
            if self._head_left:
                head = data[: self._head_left]
                self._file.write(head)
                self._head_left -= len(head)
                data = data[len(head) :]
        except OSError as exc:
            self.error = exc
            return
        self._tail += data
        if len(self._tail) > 2 * self._tail_max:  # trim in batches: each trim copies the tail
            self._trim()

    def _trim(self) -> None:
        excess = len(self._tail) - self._tail_max
        if excess > 0:
            del self._tail[:excess]
            self.omitted += excess

    def close(self) -> None:
        """Write the omission marker and the kept tail, then close the file."""
        self._trim()
        try:
            if self.omitted:
                marker = f"\n[... autoresearch: {self.omitted} bytes omitted ...]\n"
                self._file.write(marker.encode())
            self._file.write(self._tail)
        except OSError as exc:
            self.error = self.error or exc
        finally:
            self._file.close()


class _Pump(threading.Thread):
    """Copies one pipe of the command into a log until EOF, or until told to stop."""

    def __init__(self, pipe: IO[bytes], log: _BoundedLog):
        super().__init__(daemon=True)
        self._pipe = pipe
        self._log = log
        self._stop_at: float | None = None

    def run(self) -> None:
        fd = self._pipe.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                ready = selector.select(timeout=SAMPLE_INTERVAL_S)
                if self._stop_at is not None and (not ready or time.monotonic() > self._stop_at):
                    return  # the tree is gone but an escaped process holds the pipe open
                if not ready:
                    continue
                data = os.read(fd, CHUNK_BYTES)
                if not data:
                    return
                self._log.write(data)

    def finish(self) -> None:
        """Read what is left in the pipe (briefly), then close it."""
        self._stop_at = time.monotonic() + DRAIN_S
        self.join()
        self._pipe.close()


class _Tree:
    """Every process seen in the command's tree, so descendants that escape are killed too."""

    def __init__(self, pid: int):
        self.pgid = pid  # the command leads its own session, hence its own group
        self.root = psutil.Process(pid)
        self.seen: set[psutil.Process] = {self.root}
        self.peak_rss = 0

    def sample(self) -> None:
        """Record the current descendants and the tree's total RSS."""
        rss = 0
        for proc in self._current():
            self.seen.add(proc)
            try:
                rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        self.peak_rss = max(self.peak_rss, rss)

    def _current(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []

    def kill(self, grace_s: float, *, reaped: bool = False) -> None:
        """Kill what is left: the seen processes, current descendants and the group.

        A reaped root has no descendants left to list (they were handed to init), so
        the scan of every process on the machine is skipped then.
        """
        if not reaped:
            self.sample()
        _kill_all(self.seen, grace_s, pgid=self.pgid)


def run(
    command: str | Sequence[str],
    *,
    cwd: Path,
    timeout: float | None,
    stdout_path: Path,
    stderr_path: Path | None = None,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    max_log_bytes: int = 20 * 1024 * 1024,
    grace_s: float = 3.0,
    on_tick: Callable[[float], None] | None = None,
    children: ChildRegistry | None = None,
) -> RunResult:
    """Run ``command`` in ``cwd`` and wait for it, at most ``timeout`` seconds.

    A string runs through ``/bin/sh -c``, a sequence is the argv. ``env`` is layered over
    the current environment. stderr goes to ``stderr_path``, or into ``stdout_path`` when
    None; each log keeps at most ``max_log_bytes`` plus an omission marker. ``on_tick`` is
    called with the elapsed seconds about once a second. On any exception while waiting
    (Ctrl-C, ``Interrupted``) the tree is killed and the exception re-raised. ``children``
    records the command while it runs (recovery after a hard kill ends it).
    """
    logs = [_BoundedLog(stdout_path, max_log_bytes)]
    if stderr_path is not None:
        logs.append(_BoundedLog(stderr_path, max_log_bytes))
    start = time.monotonic()
    try:
        proc = _start(command, cwd, env, input_text is not None, stderr_path is not None)
    except BaseException:
        for log in logs:
            log.close()
        raise
    record = children.record(proc.pid) if children is not None else None
    pumps = [_Pump(pipe, log) for pipe, log in zip(_pipes(proc), logs)]
    for pump in pumps:
        pump.start()
    if input_text is not None:
        threading.Thread(target=_feed, args=(proc.stdin, input_text), daemon=True).start()
    tree = _Tree(proc.pid)
    try:
        confirm = (lambda: children.confirm(record)) if record is not None else None
        timed_out = _wait(proc, tree, start, timeout, on_tick, confirm)
        duration_s = time.monotonic() - start
    finally:
        _clean_up(proc, tree, pumps, logs, grace_s)
        if record is not None:
            record.unlink(missing_ok=True)
    _raise_write_error(logs)
    for log in logs:
        redact_file(log.path)
    return RunResult(
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        duration_s=duration_s,
        peak_rss_mb=tree.peak_rss / MIB,
        log_truncated=any(log.omitted for log in logs),
    )


def kill_leftovers(children: ChildRegistry, grace_s: float = 3.0) -> list[int]:
    """Kill the recorded command trees that still run (provably ours); return their pids.

    A loop killed with SIGKILL cannot clean up: its agent or experiment keeps running and
    may still write. Each recorded leader that is the same process (pid, start time and
    command line) is killed with its descendants and its process group.
    """
    killed = []
    for process in children.leftovers():
        killed.append(process.pid)
        kill_tree(process.pid, grace_s)
    return killed


def secret_values() -> list[str]:
    """Values of secret-looking environment variables (API keys, tokens), longest first."""
    found = {value for name, value in os.environ.items()
             if _SECRET_NAME.search(name) and len(value) >= _SECRET_MIN_CHARS}
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with the value of every secret-looking environment variable redacted."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_file(path: Path) -> None:
    """Redact secrets (see ``redact``) in a log file we wrote, in place."""
    secrets = [value.encode() for value in secret_values()]
    if not secrets:
        return
    try:
        data = path.read_bytes()
        cleaned = data
        for secret in secrets:
            cleaned = cleaned.replace(secret, REDACTED.encode())
        if cleaned != data:
            path.write_bytes(cleaned)
    except OSError:
        pass


def _start(
    command: str | Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None,
    with_stdin: bool,
    separate_stderr: bool,
) -> subprocess.Popen[bytes]:
    """Start the command in a new session, its output on pipes."""
    try:
        return subprocess.Popen(
            command if isinstance(command, str) else list(command),
            shell=isinstance(command, str),
            cwd=cwd,
            env={**os.environ, **env} if env is not None else None,
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        shown = command if isinstance(command, str) else " ".join(map(str, command))
        raise EnvironmentProblem(f"cannot start {shown!r} in {cwd}: {exc.strerror or exc}") from exc


def _pipes(proc: subprocess.Popen[bytes]) -> list[IO[bytes]]:
    return [pipe for pipe in (proc.stdout, proc.stderr) if pipe is not None]


def _feed(pipe: IO[bytes], text: str) -> None:
    """Write ``text`` to the command's stdin and close it; a command may not read it all."""
    try:
        pipe.write(text.encode())
    except OSError:  # BrokenPipeError: the command exited or closed stdin
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _wait(
    proc: subprocess.Popen[bytes],
    tree: _Tree,
    start: float,
    timeout: float | None,
    on_tick: Callable[[float], None] | None,
    first_sample: Callable[[], None] | None = None,
) -> bool:
    """Wait for the command to exit; return True when it reached the timeout instead.
    ``first_sample`` is called once, after the first sample of the tree."""
    next_tick = 1.0
    with _ExitWatch(proc) as watch:
        while True:
            elapsed = time.monotonic() - start
            if timeout is not None and elapsed >= timeout:
                return True
            step = SAMPLE_INTERVAL_S if timeout is None else min(SAMPLE_INTERVAL_S,
                                                                 timeout - elapsed)
            if watch.exited_within(step):
                return False
            tree.sample()
            if first_sample is not None:
                first_sample()
                first_sample = None
            elapsed = time.monotonic() - start
            if on_tick is not None and elapsed >= next_tick:
                on_tick(elapsed)
                next_tick = int(elapsed) + 1.0


class _ExitWatch:
    """Waits for a command's exit and reaps it, woken by a pidfd the moment it exits.

    ``Popen.wait(timeout)`` polls with sleeps that double up to 50 ms, so a command of a
    few milliseconds was seen to end up to twice as late. Without pidfds (not Linux, or
    a kernel before 5.3) it is still what is used.
    """

    def __init__(self, proc: subprocess.Popen[bytes]):
        self.proc = proc
        try:
            self.fd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.fd = None

    def __enter__(self) -> "_ExitWatch":
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def exited_within(self, seconds: float) -> bool:
        """True when the command exited (it is reaped then) within ``seconds``."""
        if self.fd is None:
            try:
                self.proc.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        select.select([self.fd], [], [], max(seconds, 0.0))  # readable once it exited
        return self.proc.poll() is not None


def _clean_up(
    proc: subprocess.Popen[bytes],
    tree: _Tree,
    pumps: list[_Pump],
    logs: list[_BoundedLog],
    grace_s: float,
) -> None:
    """Kill what is left of the tree, reap the command, finish reading, close the logs."""
    tree.kill(grace_s, reaped=proc.returncode is not None)
    proc.wait()
    for pump in pumps:
        pump.finish()
    for log in logs:
        log.close()


def _raise_write_error(logs: list[_BoundedLog]) -> None:
    for log in logs:
        if log.error:
            raise EnvironmentProblem(f"cannot write the run log {log.path}: {log.error.strerror}")


def kill_tree(pid: int, grace_s: float = 3.0) -> None:
    """Kill ``pid``, all its descendants and, if it leads a process group, that group.

    SIGTERM first; whatever is still alive after ``grace_s`` seconds gets SIGKILL.
    """
    try:
        root = psutil.Process(pid)
        procs = {root, *root.children(recursive=True)}
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return
    _kill_all(procs, grace_s, pgid=pid if _pgid(pid) == pid else None)


def _kill_all(procs: Iterable[psutil.Process], grace_s: float, pgid: int | None) -> None:
    """SIGTERM ``procs`` and group ``pgid``, wait ``grace_s``, SIGKILL what is left.

    Processes that survive SIGTERM are searched again for children they spawned meanwhile.
    """
    targets = set(procs)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, KILL_WAIT_S)):
        if pgid is not None:
            targets.update(_group_members(pgid))
        targets = _alive(targets)
        if not targets:
            return
        if pgid is not None and pgid != os.getpgrp():
            with contextlib.suppress(OSError):
                os.killpg(pgid, sig)  # also reaches a process forked after the listing
        for proc in targets:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc.send_signal(sig)
        targets = _wait_gone(targets, wait_s)
        targets |= _descendants(targets)


def _alive(procs: Iterable[psutil.Process]) -> set[psutil.Process]:
    """The processes that still run (zombies count as gone); never ourselves."""
    alive = set()
    for proc in procs:
        try:
            if (
                proc.pid != os.getpid()
                and proc.is_running()  # False when the pid now belongs to another process
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                alive.add(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return alive


def _wait_gone(procs: set[psutil.Process], timeout: float) -> set[psutil.Process]:
    """Wait until ``procs`` are gone or ``timeout`` passes; return those still alive."""
    deadline = time.monotonic() + timeout
    while (procs := _alive(procs)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return procs


def _descendants(procs: Iterable[psutil.Process]) -> set[psutil.Process]:
    found = set()
    for proc in procs:
        try:
            found.update(proc.children(recursive=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _group_members(pgid: int) -> list[psutil.Process]:
    """The processes of group ``pgid``, unless it is our own group."""
    if pgid == os.getpgrp():
        return []
    members = []
    for pid in psutil.pids():
        if _pgid(pid) == pgid:
            try:
                members.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
    return members


def tail(path: Path, max_bytes: int = 4000) -> str:
    """The last ``max_bytes`` of a file, decoded leniently; "" when the file does not exist."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - max_bytes))
            return file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
