"""A shell command line as the simple commands it would run, for reading, never for running.

``cd app && NODE_ENV=production nice -n 5 npm run build > out.log`` reads as one command
``npm run build`` run in ``app``. Good enough to find programs, scripts and file arguments;
anything the shell would compute (``$VAR``, ``$(...)``) is left as written.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "|&", ";;", "\n"})
REDIRECTIONS = frozenset({">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|"})
PARENTHESES = frozenset({"(", ")"})
KEYWORDS = frozenset({"{", "}", "!", "if", "then", "elif", "else", "fi", "while", "until", "do",
                      "done"})  # only where a command starts
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Programs that run the rest of their arguments as a command, with how many option values
# they take before it.
_PREFIXES = {"env", "time", "nice", "nohup", "exec", "stdbuf", "timeout", "sudo", "xvfb-run",
             "caffeinate", "chronic"}
_PREFIX_OPTION_VALUES = {"nice": {"-n"}, "timeout": {"-s", "-k", "--signal", "--kill-after"},
                         "sudo": {"-u", "-g"}, "env": {"-u", "-C", "--chdir", "--unset"}}


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: str  # relative to where the line starts, "." when unchanged

    @property
    def program(self) -> str:
        return self.argv[0]


def commands(line: str) -> list[Command]:
    """The simple commands of ``line`` in order; [] when it cannot be split (bad quoting)."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return []
    found: list[Command] = []
    cwd = "."
    for words in _split(tokens):
        argv = _strip_prefixes(words)
        if not argv:
            continue
        if argv[0] == "cd":
            cwd = _cd(cwd, argv[1] if len(argv) > 1 else "")
            continue
        found.append(Command(tuple(argv), cwd))
    return found


def _split(tokens: list[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in SEPARATORS:
            groups.append([])
        elif token in REDIRECTIONS or (token and set(token) <= set("<>&|") and token != "&"):
            skip_next = token not in ("|", "||")
            if groups[-1] and groups[-1][-1].isdigit() and len(groups[-1]) > 1:
                groups[-1].pop()  # the "2" of "2>&1"
        elif token not in PARENTHESES and not (not groups[-1] and token in KEYWORDS):
            groups[-1].append(token)
    return [g for g in groups if g]


def _strip_prefixes(words: list[str]) -> list[str]:
    index = 0
    while index < len(words):
        word = words[index]
        if ASSIGNMENT.match(word):
            index += 1
            continue
        name = os.path.basename(word)
        if name not in _PREFIXES or index + 1 >= len(words):
            break
        index += 1
        values = _PREFIX_OPTION_VALUES.get(name, set())
        while index < len(words) and words[index].startswith("-"):
            index += 2 if words[index] in values else 1
        if name == "timeout" and index < len(words):
            index += 1  # the duration
    return words[index:]


def _cd(cwd: str, target: str) -> str:
    if not target or target.startswith(("/", "~", "$", "-")):
        return cwd
    return os.path.normpath(os.path.join(cwd, target))
