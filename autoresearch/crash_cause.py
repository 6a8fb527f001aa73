"""The most telling line of a failed run's log: why it crashed, in one line.

Detectors run in order and the first that finds something wins: a program that is not
installed, Python's final exception line, the process killed (out of memory), the first
compiler error (TypeScript, javac, kotlinc, esbuild, Maven's file:[line,col], gcc, Rust,
Dart), a Java exception (``UnknownHostException: services.gradle.org``), Gradle's "What
went wrong" with its deepest cause, npm's error, Maven's BUILD FAILURE reason, any other
error line; else the last meaningful line. Cascading errors come later, so the first
compiler error is the telling one, but the last Python exception is (it is the one raised).
"""

from __future__ import annotations

import re
from collections.abc import Callable

MAX_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_NOT_FOUND = re.compile(
    r"(?:^|: )(?:line \d+: )?([\w./+-]+): (?:command )?not found\s*$"
    r"|^(?:/usr/bin/env: |env: )'?([\w./+-]+)'?: No such file or directory\s*$")
_CANNOT_EXECUTE = re.compile(r"(?:^|: )([\w./+-]+): Permission denied\s*$")
_PY_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)"
                           r"|[A-Za-z_][\w.]*\.[A-Z]\w*)(?::\s(.*))?$")
# "Killed", "sh: 1: Killed", "bash: line 1:  4242 Killed   python train.py"
_KILLED = re.compile(r"^(?:\S+:\s*(?:(?:line )?\d+:\s*)?)?(?:\d+\s+)?"
                     r"(Killed|Segmentation fault|Bus error|Aborted)(?: \(core dumped\))?"
                     r"(?:\s{2,}.*)?$")
_OOM = re.compile(r"(CUDA out of memory|CUDA error: out of memory|OutOfMemoryError|"
                  r"JavaScript heap out of memory|Out of memory|MemoryError|oom-kill)",
                  re.IGNORECASE)
_JAVA_EXCEPTION = re.compile(
    r"(?:Exception in thread \"[^\"]*\" |Caused by: |^)(?:[a-z_$][\w$]*\.)+"
    r"([A-Z][\w$]*(?:Exception|Error)(?::\s.*)?)$")
_NETWORK = re.compile(r"(?:Unknown host|Could not resolve host:|"
                      r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN)) [\w.-]+"
                      r"|[\w.-]+\.[a-z]{2,}: (?:Name or service not known|Temporary failure in "
                      r"name resolution|No address associated with hostname)"
                      r"|Network is unreachable")
_NPM_NOISE = re.compile(r"^npm (?:ERR!|error) (?:code|errno|syscall|path|A complete log|"
                        r"This is probably|Failed at|Exit status|command (?:failed|sh)|"
                        r"signal|workspace|location|Lifecycle script|\s*$|To see a list|"
                        r"\s+npm run)", re.IGNORECASE)
_NPM = re.compile(r"^npm (?:ERR!|error) (.+)$")
_MAVEN_FAILURE = re.compile(r"^\[ERROR\] Failed to execute goal (?:\S+ )?\(?[^)]*\)?[^:]*: (.*)$")
_ERROR_HEADING = re.compile(r"^(?:error during build|build failed with \d+ errors?|"
                            r"compilation failed|errors?):?$", re.IGNORECASE)
_ERROR_LINE = re.compile(r"^(?:.*\b(?:error|ERROR|Error)\b[:!].*|FAIL(?:ED)?:? .+|fatal: .+)$")
_UNINFORMATIVE = re.compile(r"^(?:[-=*#~_.>|+ ]+|\[\.\.\. autoresearch: \d+ bytes omitted "
                            r"\.\.\.\]|\s*at .*|\s*\^+\s*|\d+ errors?|BUILD FAILED.*|"
                            r"FAILURE: Build failed.*|\* Try:|Run with --.*|\[ERROR\]\s*|"
                            r"\[ERROR\] -> \[Help 1\]|\[ERROR\] (?:To see the full|Re-run|"
                            r"For more information|After correcting).*|npm (?:ERR!|error).*|"
                            r"error Command failed with exit code \d+\.?|"
                            r"info Visit https://.*|ELIFECYCLE.*|.*exited with code \d+)$")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what a terminal would act on


def cause(log_text: str) -> str | None:
    """The most telling line of ``log_text`` (trimmed to one line of at most 200 characters),
    or None when the log holds nothing but blank or decorative lines."""
    text = _ANSI.sub("", log_text).replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n") if line.strip()]
    for detector in DETECTORS:
        found = detector(lines)
        if found:
            return _short(found)
    return None


def _short(text: str) -> str:
    text = " ".join(_CONTROL.sub("", text).split())
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"


def _not_installed(lines: list[str]) -> str | None:
    for line in lines:
        match = _NOT_FOUND.search(line.strip())
        if match:
            program = match.group(1) or match.group(2)
            return f"{program}: {'command not found' if 'command' in line else 'not found'}"
    for line in lines:
        match = _CANNOT_EXECUTE.search(line.strip())
        if match and "/" in match.group(1):
            return f"{match.group(1)}: Permission denied (not executable)"
    return None


def _python_exception(lines: list[str]) -> str | None:
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line.startswith((" ", "\t")):
            continue
        match = _PY_EXCEPTION.match(line)
        if match:
            return _strip_module(line)
    return None


def _strip_module(line: str) -> str:
    """``torch.OutOfMemoryError: CUDA ...`` stays; ``java.net.X: y`` -> ``X: y``."""
    name, sep, rest = line.partition(":")
    if name.startswith(("java.", "javax.", "kotlin.", "org.", "com.")):
        name = name.rsplit(".", 1)[-1]
    return f"{name}{sep}{rest}"


def _killed(lines: list[str]) -> str | None:
    for line in lines:
        if _OOM.search(line):
            return line.strip()
    for line in reversed(lines[-5:]):
        match = _KILLED.match(line.strip())
        if match:
            return match.group(1) + (" (out of memory?)" if match.group(1) == "Killed" else "")
    return None


def _tsc(match: re.Match[str], following: str) -> str:
    return f"{match.group(2)} {match.group(3)} ({match.group(1)})"


def _esbuild(match: re.Match[str], following: str) -> str:
    where = following.strip()
    located = re.fullmatch(r"\S+:\d+:\d+:", where)
    return match.group(1) + (f" ({where.rstrip(':')})" if located else "")


def _maven(match: re.Match[str], following: str) -> str:
    path, row, col, message = match.groups()
    return f"{path.rsplit('/', 1)[-1]}:{row}:{col}: {message}"


def _whole(match: re.Match[str], following: str) -> str:
    return match.string


_COMPILER: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], str], str]], ...] = (
    (re.compile(r"^(.+?\(\d+,\d+\)): error (TS\d+): (.*)$"), _tsc),
    (re.compile(r"^(.+?:\d+:\d+) - error (TS\d+): (.*)$"), _tsc),  # tsc --pretty
    (re.compile(r"^(?:✘|X) \[ERROR\] (.*)$"), _esbuild),
    # rolldown: [UNRESOLVED_IMPORT] ..., not Maven's [ERROR]
    (re.compile(r"^\[(?!(?:ERROR|INFO|WARNING|WARN|DEBUG)\])[A-Z][A-Z_]+\] .*$"), _whole),
    (re.compile(r"^\[vite\]:? .*$"), _whole),
    (re.compile(r"^\[ERROR\] (/?[\w./\\-]+\.(?:java|kt|scala|groovy)):\[(\d+),(\d+)\] (.*)$"),
     _maven),
    (re.compile(r"^/?[\w./\\-]+\.(?:java|kt|scala|c|cc|cpp|h|hpp|go|swift|m):\d+:(?:\d+:)?"
                r" (?:fatal )?error: .*$"), _whole),  # javac, gcc, clang, go
    (re.compile(r"^e: (?:file://)?/?\S+\.kts?:\d+:\d+ .*$"), _whole),  # kotlinc
    (re.compile(r"^/?[\w./\\-]+\.dart:\d+:\d+: Error: .*$"), _whole),  # dart, flutter
    (re.compile(r"^error\[E\d+\]: .*$"), _whole),  # rustc
    (re.compile(r"^SyntaxError: .*$"), _whole),  # node
)


def _compiler_error(lines: list[str]) -> str | None:
    """The first compiler error: later ones are often caused by it."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        for pattern, shown in _COMPILER:
            match = pattern.match(stripped)
            if match:
                return shown(match, following)
    return None


def _java_exception(lines: list[str]) -> str | None:
    """The root cause: the last ``Caused by:``, else the first exception line."""
    found = [(line.strip().startswith("Caused by:"), match.group(1)) for line in lines
             if (match := _JAVA_EXCEPTION.search(line.strip()))]
    causes = [text for is_cause, text in found if is_cause]
    return causes[-1] if causes else (found[0][1] if found else None)


def _network(lines: list[str]) -> str | None:
    for line in lines:
        match = _NETWORK.search(line)
        if match:
            return match.group(0).strip()
    return None


def _gradle_went_wrong(lines: list[str]) -> str | None:
    for index, line in enumerate(lines):
        if line.strip() != "* What went wrong:" or index + 1 >= len(lines):
            continue
        headline = lines[index + 1].strip()
        causes = []
        for follow in lines[index + 2:]:
            if follow.startswith("* ") or not follow.strip().startswith(">"):
                break
            causes.append(follow.strip().lstrip("> ").strip())
        return f"{headline} ({causes[-1]})" if causes else headline
    return None


def _npm_error(lines: list[str]) -> str | None:
    for line in lines:
        stripped = line.strip()
        match = _NPM.match(stripped)
        if match and not _NPM_NOISE.match(stripped) and len(match.group(1).strip()) > 3:
            return stripped
    return None


def _maven_failure(lines: list[str]) -> str | None:
    for line in lines:
        match = _MAVEN_FAILURE.match(line.strip())
        if match:
            return match.group(1)
    return None


def _error_line(lines: list[str]) -> str | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _ERROR_HEADING.match(stripped):  # "error during build:" introduces the message
            following = [x.strip() for x in lines[index + 1:index + 4]
                         if not _ERROR_HEADING.match(x.strip())]
            if following:
                return following[0]
        if _ERROR_LINE.match(stripped) and not _UNINFORMATIVE.match(stripped):
            return stripped
    return None


def _last_meaningful(lines: list[str]) -> str | None:
    for line in reversed(lines):
        stripped = line.strip()
        if stripped and not _UNINFORMATIVE.match(stripped) and re.search(r"\w", stripped):
            return stripped
    return None


DETECTORS: tuple[Callable[[list[str]], str | None], ...] = (
    _not_installed, _python_exception, _killed, _compiler_error, _java_exception, _network,
    _gradle_went_wrong, _npm_error, _maven_failure, _error_line, _last_meaningful)
