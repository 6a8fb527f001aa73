"""All terminal output goes through a Console: one place decides colour, quietness and streams.

A command that needs settings of its own (the loop: ``--quiet``, ``--json``) makes a Console
and passes it on; everything else uses the module functions, which write through a plain one.
Text an agent or a run wrote is made safe with :func:`safe` before it reaches a terminal.
When the reader of stdout goes away (``autoresearch loop | head -2``), the next write raises
:class:`~autoresearch.errors.Interrupted` for SIGPIPE: the loop stops as on SIGTERM and the
command exits 141.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from dataclasses import dataclass, field

from autoresearch.errors import Interrupted

# Terminal control characters (escape sequences, bells, backspaces...) but tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def safe(text: str) -> str:
    """``text`` with terminal control characters shown as ``?`` (never interpreted)."""
    return _CONTROL.sub("?", text)


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


def use_colour(stream=None) -> bool:
    return is_terminal(stream) and "NO_COLOR" not in os.environ


@dataclass
class Console:
    quiet: bool = False  # --quiet: only errors and the command's answer
    progress_to_stderr: bool = False  # when stdout carries a machine-readable answer (--json)
    _status_width: int = field(default=0, repr=False)

    def style(self, text: str, *codes: str) -> str:
        """``text`` in ANSI codes (e.g. "1" bold, "32" green) on a colour terminal."""
        stream = sys.stderr if self.progress_to_stderr else sys.stdout
        if not codes or not use_colour(stream):
            return text
        return f"\033[{';'.join(codes)}m{text}\033[0m"

    def info(self, message: str = "") -> None:
        """Progress (suppressed by --quiet)."""
        if not self.quiet:
            self._write(sys.stderr if self.progress_to_stderr else sys.stdout, message)

    def result(self, message: str = "") -> None:
        """The command's answer (never suppressed)."""
        self._write(sys.stdout, message)

    def warn(self, message: str) -> None:
        self._write(sys.stderr, f"autoresearch: warning: {message}")

    def error(self, message: str) -> None:
        self._write(sys.stderr, f"autoresearch: error: {message}")

    # -- a live one-line status on a terminal (nothing elsewhere) ------------------------------
    def status(self, text: str) -> None:
        if self.quiet or not is_terminal(sys.stderr):
            return
        padded = text.ljust(self._status_width)
        self._status_width = len(text)
        self._raw(sys.stderr, "\r" + padded)

    def clear_status(self) -> None:
        if self._status_width:
            self._raw(sys.stderr, "\r" + " " * self._status_width + "\r")
            self._status_width = 0

    def _write(self, stream, message: str) -> None:
        self.clear_status()
        self._raw(stream, message + "\n")

    @staticmethod
    def _raw(stream, text: str) -> None:
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            # Nobody reads any more: later writes (and the flush at exit) go nowhere.
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            raise Interrupted(signal.SIGPIPE) from None


_plain = Console()


def info(message: str = "") -> None:
    _plain.info(message)


def result(message: str = "") -> None:
    _plain.result(message)


def warn(message: str) -> None:
    _plain.warn(message)


def error(message: str) -> None:
    _plain.error(message)
