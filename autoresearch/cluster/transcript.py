"""The experiment as a cluster job runs it, and what comes back from it.

On the node the command runs inside ``wrapper.py`` (see there), whose output is the job's
log: a preamble the scheduler may write, the wrapper's start line, the command's output, and
a trailer. :class:`Transcript` takes that stream in chunks of any size and writes only the
command's output to the run log, as it arrives; the trailer gives the exit code, the
duration measured on the node and the fetched files, which :func:`unpack` writes into the
experiment's tree.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
import shlex
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autoresearch.runner import _BoundedLog

WRAPPER = Path(__file__).with_name("wrapper.py")
FETCH_MAX_BYTES = 32 * 1024 * 1024  # compressed; a larger fetch is refused on the node
PREAMBLE_MAX_BYTES = 1024 * 1024  # kept to show why a job failed before the command ran
_MARK = b"@@autoresearch-"


def new_token() -> str:
    return secrets.token_hex(8)


def wrapped(token: str, command: str, fetch: Sequence[str] = (), remove: Sequence[str] = (),
            python: str = "python3") -> str:
    """The shell command line that runs ``command`` under the wrapper on the node; the files
    ``remove`` names are deleted there first."""
    source = base64.b64encode(WRAPPER.read_bytes()).decode()
    args = json.dumps({"token": token, "command": command, "fetch": list(fetch),
                       "fetch_max": FETCH_MAX_BYTES, "remove": list(remove)})
    bootstrap = f"import base64;exec(base64.b64decode('{source}'))"
    return " ".join([python, "-c", shlex.quote(bootstrap),
                     base64.b64encode(args.encode()).decode()])


@dataclass(frozen=True)
class Trailer:
    """What the wrapper reported after the command; None fields when it never got there."""

    node: str | None
    exit_code: int | None
    duration_s: float | None
    payload: bytes | None  # the fetched files, a gzip tar


class Transcript:
    """Splits a wrapped job's output: the command's output to the log, the rest aside.

    ``drop`` is the start of one line the scheduler itself writes into the job's output at
    an unpredictable point (Ray's "Running entrypoint for job ..."): it is removed, once.
    """

    def __init__(self, token: str, log_path: Path, max_log_bytes: int,
                 drop: bytes | None = None):
        self._start = _MARK + token.encode() + b" start "
        self._end = _MARK + token.encode() + b" "
        self._log_path = log_path
        self._max_log_bytes = max_log_bytes
        self._drop_line = drop
        self._reset()

    def _reset(self) -> None:
        self.log = _BoundedLog(self._log_path, self._max_log_bytes)
        self._state = "preamble"
        self._pending = bytearray()
        self._trailer = bytearray()
        self._drop = self._drop_line
        self.node: str | None = None
        self.received = 0

    @property
    def complete(self) -> bool:
        """Whether the wrapper's last line (the exit code) has arrived."""
        if self._state != "trailer":
            return False
        at = self._trailer.rfind(self._end + b"end ")
        return at >= 0 and self._trailer.find(b"\n", at) >= 0

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self._state == "trailer":
            self._trailer += data
            return
        self._pending += data
        self._remove_drop_line()
        if self._state == "preamble":
            self._find_start()
        if self._state == "body":
            self._flush_body()

    def replay(self, data: bytes) -> None:
        """Start over from the job's whole output (a stream that lost chunks)."""
        self.log.close()
        self._reset()
        self.feed(data)

    def finish(self) -> Trailer:
        """Write what is left of the output and return the trailer; the log stays open."""
        self._remove_drop_line(final=True)
        # In the preamble still: the command never ran, and the preamble says why.
        self.log.write(bytes(self._pending))
        self._pending.clear()
        return self._parse()

    def note(self, text: str) -> None:
        """Append a line of the tool's own to the log."""
        self.log.write(f"\n[autoresearch: {text}]\n".encode())

    # -- the states ------------------------------------------------------------------------
    def _find_start(self) -> None:
        at = self._pending.find(self._start)
        newline = self._pending.find(b"\n", at) if at >= 0 else -1
        if newline < 0:
            if len(self._pending) > PREAMBLE_MAX_BYTES:
                del self._pending[:len(self._pending) - PREAMBLE_MAX_BYTES]
            return
        self.node = self._pending[at + len(self._start):newline].decode(errors="replace")
        del self._pending[:newline + 1]
        self._state = "body"

    def _flush_body(self) -> None:
        at = self._pending.find(self._end)
        if at >= 0:
            self.log.write(bytes(self._pending[:at]))
            self._trailer += self._pending[at:]
            self._pending.clear()
            self._state = "trailer"
            return
        # Hold back only what could be the start of the end marker or of the line to drop.
        hold = _partial(self._pending, self._end)
        if self._drop is not None:
            drop_at = self._pending.find(self._drop)
            hold = max(hold, len(self._pending) - drop_at if drop_at >= 0
                       else _partial(self._pending, self._drop))
        cut = len(self._pending) - hold
        self.log.write(bytes(self._pending[:cut]))
        del self._pending[:cut]

    def _remove_drop_line(self, final: bool = False) -> None:
        if self._drop is None:
            return
        at = self._pending.find(self._drop)
        if at < 0:
            return
        newline = self._pending.find(b"\n", at)
        if newline < 0 and not final:
            return
        del self._pending[at:newline + 1 if newline >= 0 else len(self._pending)]
        self._drop = None

    def _parse(self) -> Trailer:
        exit_code = duration = payload = None
        lines = bytes(self._trailer).decode(errors="replace").splitlines()
        prefix = self._end.decode()
        for index, line in enumerate(lines):
            if not line.startswith(prefix):
                continue
            word, _, rest = line[len(prefix):].partition(" ")
            if word == "fetch" and index + 1 < len(lines):
                try:
                    payload = base64.b64decode(lines[index + 1], validate=True)
                except (binascii.Error, ValueError):
                    payload = None
            elif word == "end":
                code, _, seconds = rest.partition(" ")
                try:
                    exit_code, duration = int(code), float(seconds)
                except ValueError:
                    pass
        return Trailer(self.node, exit_code, duration, payload)


def _partial(data: bytearray, pattern: bytes) -> int:
    """The length of the longest end of ``data`` that begins ``pattern`` (0: none)."""
    for size in range(min(len(pattern) - 1, len(data)), 0, -1):
        if data.endswith(pattern[:size]):
            return size
    return 0


def unpack(payload: bytes | None, directory: Path) -> str | None:
    """Write the fetched files into ``directory``; None, or why they could not be.

    Tar's "data" filter rules, on every Python: an absolute name lands inside it (its
    leading / dropped); a member that would land outside it ('..', a link pointing out) is
    refused.
    """
    if not payload:
        return None
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(directory, filter="data")
                return None
            members = tar.getmembers()  # Python < 3.11.4 has no extraction filters
            for member in members:
                problem = _outside(member, Path(directory).resolve())
                if problem:
                    return f"the fetched files could not be unpacked: {problem}"
            tar.extractall(directory, members=members)
    except (tarfile.TarError, OSError) as exc:
        return f"the fetched files could not be unpacked: {exc}"
    return None


def _outside(member: tarfile.TarInfo, root: Path) -> str | None:
    """Why ``member`` would land outside ``root`` (its name made relative), or None."""
    member.name = member.name.lstrip("/")
    target = (root / member.name).resolve()
    if not target.is_relative_to(root):
        return f"{member.name!r} would be written outside the tree"
    if member.issym() or member.islnk():
        base = target.parent if member.issym() else root
        pointed = (base / member.linkname).resolve()
        if member.linkname.startswith("/") or not pointed.is_relative_to(root):
            return f"{member.name!r} links outside the tree"
    return None
