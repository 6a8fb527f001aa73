"""Shared behaviour of the stand-in agent CLIs (stdlib only).

Environment variables steer a stand-in:
  STANDIN_MODE      ok (default) | is_error | exit1 | hang | garbage | max_turns
  STANDIN_EDIT      "path:OLD:NEW": replace OLD with NEW in path (relative to the cwd), like
                    a coding agent editing the target file
  STANDIN_SAY       the agent's final message (default: a one-line summary and a detail)
  STANDIN_ARGV_LOG  file that receives the argv (after the program name) as a JSON list
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

DEFAULT_SAY = "Raise the learning rate to 0.04\n\nA larger step should converge faster."


def start() -> str:
    """Record the argv and return the mode; hang here when asked to."""
    log = os.environ.get("STANDIN_ARGV_LOG")
    if log:
        Path(log).write_text(json.dumps(sys.argv[1:]))
    mode = os.environ.get("STANDIN_MODE", "ok")
    if mode == "hang":
        time.sleep(600)
    return mode


def say(default: str = DEFAULT_SAY) -> str:
    """The agent's final message (or what an error message ends with)."""
    return os.environ.get("STANDIN_SAY", default)


def edit(allowed: list[str] | None = None) -> str | None:
    """Apply STANDIN_EDIT in the cwd; return the edited path (None when nothing to do)."""
    spec = os.environ.get("STANDIN_EDIT")
    if not spec:
        return None
    path, old, new = spec.split(":", 2)
    if allowed is not None and path not in allowed:
        return None  # aider edits only the files added to the chat
    target = Path(path)
    text = target.read_text()
    if old not in text:
        sys.exit(f"stand-in: {old!r} not found in {path}")
    target.write_text(text.replace(old, new, 1))
    return path


def drain_stdin() -> None:
    """Read stdin when it is not a terminal, as codex and opencode do (hangs on an open pipe)."""
    if not sys.stdin.isatty():
        sys.stdin.read()


def emit(*events: dict) -> None:
    for event in events:
        print(json.dumps(event), flush=True)


def garbage() -> None:
    print("Segmentation fault? <html>not json</html>")
    sys.exit(0)
