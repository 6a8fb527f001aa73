"""Reading literal values out of JavaScript/TypeScript config files without running them.

Bundler configs are code (``entry: resolve(__dirname, 'src/index.ts')``), so only what is
written literally can be known: the string literals in the value of a key. Comments are
skipped; a template literal with ``${...}`` is not a literal.
"""

from __future__ import annotations

import re

_QUOTES = "\"'`"
_OPENING = "([{"
_CLOSING = ")]}"
_WORD = re.compile(r"[A-Za-z_$][\w$]*")

Token = tuple[str, str]  # ("string", value) | ("word", name) | ("punct", char)


def tokens(text: str) -> list[Token]:
    found: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("//", index):
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            index = len(text) if end < 0 else end + 2
        elif char in _QUOTES:
            value, index = _read_string(text, index)
            found.append(("string", value) if value is not None else ("word", "`template`"))
        elif word := _WORD.match(text, index):
            found.append(("word", word.group()))
            index = word.end()
        else:
            if not char.isspace():
                found.append(("punct", char))
            index += 1
    return found


def _read_string(text: str, start: int) -> tuple[str | None, int]:
    quote = text[start]
    value: list[str] = []
    index = start + 1
    while index < len(text) and text[index] != quote:
        if text[index] == "\\" and index + 1 < len(text):
            value.append(text[index + 1])
            index += 2
            continue
        if text[index] == "\n" and quote != "`":
            break
        value.append(text[index])
        index += 1
    literal = "".join(value)
    return (None if quote == "`" and "${" in literal else literal), index + 1


def values_of(text: str, keys: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """For each ``key: value`` or ``"key": value`` in ``text``, in order: the key and the
    string literals of its value (up to the comma or bracket that ends it)."""
    stream = tokens(text)
    found: list[tuple[str, list[str]]] = []
    for index in range(len(stream) - 1):
        kind, name = stream[index]
        if kind in ("word", "string") and name in keys and stream[index + 1] == ("punct", ":"):
            found.append((name, _literals_from(stream, index + 2)))
    return found


def _literals_from(stream: list[Token], start: int) -> list[str]:
    literals: list[str] = []
    depth = 0
    for kind, value in stream[start:]:
        if kind == "string":
            literals.append(value)
        elif kind == "punct" and value in _OPENING:
            depth += 1
        elif kind == "punct" and value in _CLOSING:
            depth -= 1
            if depth < 0:
                break
        elif kind == "punct" and value in ",;" and depth == 0:
            break
    return literals
