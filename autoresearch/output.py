"""All terminal output goes through here: one place decides colour, quietness and streams."""

from __future__ import annotations

import os
import sys

_quiet = False
_progress_to_stderr = False  # when stdout carries a machine-readable answer (--json)


def set_quiet(value: bool) -> None:
    global _quiet
    _quiet = value


def set_progress_to_stderr(value: bool) -> None:
    global _progress_to_stderr
    _progress_to_stderr = value


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


def use_colour(stream=None) -> bool:
    return is_terminal(stream) and "NO_COLOR" not in os.environ


def style(text: str, *codes: str, stream=None) -> str:
    """Wrap ``text`` in ANSI codes (e.g. "1" bold, "32" green) when writing to a colour terminal."""
    if not codes or not use_colour(stream):
        return text
    return f"\033[{';'.join(codes)}m{text}\033[0m"


def info(message: str = "") -> None:
    """Normal progress output (suppressed by --quiet)."""
    if not _quiet:
        print(message, file=sys.stderr if _progress_to_stderr else sys.stdout, flush=True)


def result(message: str = "") -> None:
    """Output that is the command's answer (never suppressed)."""
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"autoresearch: warning: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    print(f"autoresearch: error: {message}", file=sys.stderr, flush=True)


class StatusLine:
    """A live one-line status on a terminal; plain lines (or nothing) elsewhere."""

    def __init__(self) -> None:
        self._live = is_terminal(sys.stderr) and not _quiet
        self._width = 0

    def update(self, text: str) -> None:
        if not self._live:
            return
        padded = text.ljust(self._width)
        self._width = len(text)
        sys.stderr.write("\r" + padded)
        sys.stderr.flush()

    def clear(self) -> None:
        if self._live and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()
            self._width = 0
