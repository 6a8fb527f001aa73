"""The ``## autoresearch`` section of a project's CLAUDE.md, in the seed's exact syntax.

    ## autoresearch
    - target_file: src/model.py
    - readonly_files: data/dataset.py, config.yaml

Bullets ``- key: value`` up to the next heading. Values are text; the config
schema converts them. Values wrapped in backticks are unwrapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autoresearch.errors import ConfigError
from autoresearch.yamlio import read_text

HEADING = re.compile(r"^\s{0,3}(#{1,6})\s*autoresearch\s*#*\s*$", re.IGNORECASE)
ANY_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
KEY_VALUE = re.compile(r"^`?([A-Za-z_][A-Za-z0-9_]*)`?\s*:\s*(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    line: int


def read_section(path: Path) -> list[Entry] | None:
    """The section's entries, or None when the file or the section does not exist."""
    if not path.is_file():
        return None
    lines = read_text(path).splitlines()
    start = _find_heading(lines)
    if start is None:
        return None
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        if ANY_HEADING.match(line):
            break
        bullet = BULLET.match(line)
        if not bullet:
            continue  # prose between bullets is allowed
        pair = KEY_VALUE.match(bullet.group(1).strip())
        if not pair:
            raise ConfigError(
                f"{path}:{number}: expected '- key: value' in the ## autoresearch section, "
                f"got {line.strip()!r}"
            )
        key, value = pair.group(1), _unwrap(pair.group(2).strip())
        if key in seen:
            raise ConfigError(
                f"{path}:{number}: key '{key}' is set twice in the ## autoresearch section "
                f"(first on line {seen[key]}); keep one"
            )
        seen[key] = number
        entries.append(Entry(key, value, number))
    if not entries:
        raise ConfigError(
            f"{path}:{start + 1}: the ## autoresearch section has no '- key: value' lines; "
            "add e.g. '- run_command: python train.py' or remove the heading"
        )
    return entries


def heading_line(path: Path) -> int | None:
    """The line number (from 1) of the ``## autoresearch`` heading, or None."""
    if not path.is_file():
        return None
    start = _find_heading(read_text(path).splitlines())
    return None if start is None else start + 1


def _find_heading(lines: list[str]) -> int | None:
    in_fence = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and HEADING.match(line):
            return index
    return None


def _unwrap(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "`":
        return value[1:-1]
    return value
