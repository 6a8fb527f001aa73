"""Shared behaviour of the stand-in agent CLIs (stdlib only).

Environment variables steer a stand-in:
  STANDIN_MODE      ok (default) | is_error | exit1 | hang | garbage | max_turns
  STANDIN_EDIT      "path:OLD:NEW": replace OLD with NEW in path (relative to the cwd), like
                    a coding agent editing the target file
  STANDIN_SAY       the agent's final message (default: a one-line summary and a detail)
  STANDIN_ARGV_LOG  file that receives the argv (after the program name) as a JSON list
  STANDIN_SCRIPT    a JSON file holding a list of steps, one per call (a coding agent asked
                    again and again): call N uses step N (counted in the file FILE.calls,
                    the last step repeats). A step is an object with any of
                    "edits": [[path, OLD, NEW], ...] (applied in order, like STANDIN_EDIT),
                    "say": the final message, "mode": as STANDIN_MODE. What a step leaves
                    out falls back to the variables above.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

DEFAULT_SAY = "Raise the learning rate to 0.04\n\nA larger step should converge faster."


_STEP: dict | None = None  # this call's step of STANDIN_SCRIPT, read once by start()


def _next_step() -> dict:
    """This call's step of STANDIN_SCRIPT (empty without one); advances the call counter."""
    script = os.environ.get("STANDIN_SCRIPT")
    if not script:
        return {}
    steps = json.loads(Path(script).read_text())
    counter = Path(script + ".calls")
    calls = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(calls + 1))
    return steps[min(calls, len(steps) - 1)] if steps else {}


def _step() -> dict:
    global _STEP
    if _STEP is None:
        _STEP = _next_step()
    return _STEP


def start() -> str:
    """Record the argv and return the mode; hang here when asked to."""
    log = os.environ.get("STANDIN_ARGV_LOG")
    if log:
        Path(log).write_text(json.dumps(sys.argv[1:]))
    mode = _step().get("mode") or os.environ.get("STANDIN_MODE", "ok")
    if mode == "hang":
        time.sleep(600)
    return mode


def say(default: str = DEFAULT_SAY) -> str:
    """The agent's final message (or what an error message ends with)."""
    return _step().get("say") or os.environ.get("STANDIN_SAY", default)


def edit(allowed: list[str] | None = None) -> str | None:
    """Apply this call's edits (STANDIN_SCRIPT step, else STANDIN_EDIT) in the cwd; return
    the last edited path (None when nothing to do)."""
    step = _step()
    if "edits" in step:
        edits = [tuple(e) for e in step["edits"]]
    else:
        spec = os.environ.get("STANDIN_EDIT")
        edits = [tuple(spec.split(":", 2))] if spec else []
    edited = None
    for path, old, new in edits:
        if allowed is not None and path not in allowed:
            continue  # aider edits only the files added to the chat
        target = Path(path)
        text = target.read_text()
        if old not in text:
            sys.exit(f"stand-in: {old!r} not found in {path}")
        target.write_text(text.replace(old, new, 1))
        edited = path
    return edited


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
