"""Glob patterns matched against lists of relative paths (git's file list, a build's outputs).

``*`` and ``?`` stay within one path segment, ``**`` spans any number of them (``dist/**/x.js``
matches ``dist/x.js`` too), ``[abc]`` is a character class. A pattern without a ``/`` matches
a file's name at any depth when ``anywhere`` is set, as in a .gitignore (``*.map``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

GLOB_CHARS = frozenset("*?[")


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "[" and "]" in pattern[index + 2:]:
            end = pattern.index("]", index + 2)
            body = pattern[index + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            parts.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            index = end + 1
            continue
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts) + r"\Z")


def matches(pattern: str, path: str, *, anywhere: bool = False) -> bool:
    """Whether ``path`` matches ``pattern`` (with ``anywhere``: or its name does, for a
    pattern without a slash)."""
    pattern = pattern.removeprefix("./")
    if anywhere and "/" not in pattern:
        path = path.rsplit("/", 1)[-1]
    return compile_glob(pattern).match(path) is not None


def select(pattern: str, paths: Iterable[str]) -> list[str]:
    """The ``paths`` matching ``pattern``, sorted."""
    return sorted(path for path in paths if matches(pattern, path))


def any_match(patterns: Iterable[str], path: str, *, anywhere: bool = False) -> bool:
    return any(matches(pattern, path, anywhere=anywhere) for pattern in patterns)
