"""A target's code with whitespace and comments ignored, and the change between two versions.

Comments are removed with decide's per-language comment syntax (the one ``code_lines``
uses). Within a line, runs of whitespace become one space, and the spaces next to
punctuation go (``x=1`` and ``x = 1`` are the same code). Blank lines go. Where indentation
is syntax (Python, YAML, Haskell) a line keeps its depth, counted by the indentation
levels around it, so re-indenting with 2 spaces instead of 4 changes nothing. Like
``code_lines`` this is a line heuristic: whitespace and comment markers inside string
literals are treated as code outside them.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from pathlib import PurePath

from autoresearch.decide import code_text

INDENTED_SUFFIXES = frozenset({".py", ".pyi", ".yaml", ".yml", ".hs"})
_SPACES = re.compile(r"\s+")
_AROUND_PUNCTUATION = re.compile(r" ?([^\w ]) ?")


def normalise(text: str, filename: str) -> list[str]:
    """The code lines of ``text``: comments, blank lines and insignificant spaces removed."""
    keep_depth = PurePath(filename).suffix.lower() in INDENTED_SUFFIXES
    widths: list[int] = [0]  # the indentation levels open at this line
    lines = []
    for code in code_text(text, filename):
        squeezed = _AROUND_PUNCTUATION.sub(r"\1", _SPACES.sub(" ", code).strip())
        if not squeezed:
            continue
        if keep_depth:
            squeezed = f"{_depth(code, widths)}|{squeezed}"
        lines.append(squeezed)
    return lines


def _depth(line: str, widths: list[int]) -> int:
    """The indentation level of ``line``; ``widths`` is the stack of open levels."""
    width = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())
    while width < widths[-1]:
        widths.pop()
    if width > widths[-1]:
        widths.append(width)
    return len(widths) - 1


def fingerprint(texts: Mapping[str, str]) -> str:
    """One hash of the normalised target files (name -> text): equal means the same code."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode() + b"\0")
        digest.update("\n".join(normalise(texts[name], name)).encode() + b"\0")
    return digest.hexdigest()[:16]


def change(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[str, ...]:
    """The normalised lines removed (``-``) and added (``+``), file by file, in file order."""
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        old = normalise(before.get(name, ""), name)
        new = normalise(after.get(name, ""), name)
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                lines.append(f"{name}:{line}")
    return tuple(lines)


def change_key(lines: tuple[str, ...]) -> str:
    """A short hash of a normalised change, for logs and the duplicate index."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
