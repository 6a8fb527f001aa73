"""Flags on a kept diff that deserve a human look (issue 15, item 6). Pure: texts in, flags out.

``audit(old, new, filename, metric_name=..., metric_files=...)`` compares the target before
and after, comments removed (``decide.code_text``), and returns the flags that apply, in the
order of ``FLAGS``:

- ``metric-name``: an added line has a string containing the metric's name (as a word): the
  target may print its own score (``print(f"val_bpb: {x}")``), or reformat the line the
  metric is read from;
- ``outside-path``: an added line names a path outside the project: ``..``, ``~``, the home
  directory (``Path.home()``, ``expanduser``, ``$HOME``), a system root (``/proc``, ``/etc``,
  ``/tmp``, ...), or any absolute path (outside web sources, where ``"/api/x"`` is a URL);
- ``timing``: an added or removed line reads a clock or sleeps (``time.time``,
  ``perf_counter``, ``sleep``, ``datetime.now``, ``Date.now``, ``System.nanoTime``, ...) or
  names a time budget or deadline;
- ``seed``: an added or removed line names a seed (``seeds.SEED_WORD``), or the change only
  moves seeds (``seeds.seed_only``);
- ``metric-file``: an added line names a file the metric is read from (``run.log`` or one of
  ``metric_files``, by path or by file name; globs are skipped).

Strings and names are found by regular expressions on each line, for every language; what is
inside a comment never counts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from autoresearch.decide import code_text
from autoresearch.seeds import SEED_WORD, seed_only

FLAGS = ("metric-name", "outside-path", "timing", "seed", "metric-file")
DESCRIPTIONS = {
    "metric-name": "prints the metric's name",
    "outside-path": "names a path outside the project",
    "timing": "touches timing",
    "seed": "touches seeds",
    "metric-file": "names a file the metric is read from",
}
RUN_LOG = "run.log"
WEB_SUFFIXES = frozenset(".js .jsx .ts .tsx .mjs .cjs .vue .svelte .html .css".split())

_STRING = re.compile(r'"(?:\\.|[^"\\])*(?:"|$)|\'(?:\\.|[^\'\\])*(?:\'|$)|`[^`]*(?:`|$)')
_OUTSIDE_ALWAYS = re.compile(
    r"(?:^|[\\/])\.\.(?:[\\/]|$)|^~"
    r"|^/(?:proc|etc|sys|dev|home|root|tmp|var|usr|opt|mnt|media|srv|run|Users|Volumes|private)"
    r"(?:/|$)")
_ABSOLUTE = re.compile(r"^/[\w.~-]|^[A-Za-z]:[\\/]")
_HOME = re.compile(r"Path\.home\(|expanduser|expandvars|\$\{?HOME\b|[\"']HOME[\"']|USERPROFILE")
_TIMING = re.compile(
    r"\btime\.(?:time|time_ns|perf_counter|perf_counter_ns|monotonic|monotonic_ns|process_time"
    r"|sleep|clock)\b|\b(?:perf_counter|monotonic|process_time|u?sleep|nanosleep|clock_gettime"
    r"|gettimeofday|timeit)\b|\bdatetime\.(?:now|utcnow|today)\b|\bDate\.now\b"
    r"|\bperformance\.now\b|\bSystem\.(?:currentTimeMillis|nanoTime)\b|\bInstant\.now\b"
    r"|\bStopwatch\b|\bset(?:Timeout|Interval)\b|\bchrono::\w*clock\b|\btime\.(?:Now|Since)\b"
    r"|time_?budget|deadline", re.IGNORECASE)


def audit(old_text: str, new_text: str, filename: str, *, metric_name: str,
          metric_files: Sequence[str] = ()) -> tuple[str, ...]:
    """The flags of the change from ``old_text`` to ``new_text`` (see the module doc)."""
    added, removed = _changed_lines(old_text, new_text, filename)
    web = PurePosixPath(filename).suffix.lower() in WEB_SUFFIXES
    found = {
        "metric-name": bool(metric_name) and any(_word(metric_name).search(s)
                                                 for line in added for s in _strings(line)),
        "outside-path": any(_outside(line, web) for line in added),
        "timing": any(_TIMING.search(line) for line in added + removed),
        "seed": any(SEED_WORD.search(line) for line in added + removed)
        or seed_only(old_text, new_text, filename),
        "metric-file": any(pattern.search(line) for line in added
                           for pattern in _file_patterns(metric_files)),
    }
    return tuple(flag for flag in FLAGS if found[flag])


def _changed_lines(old_text: str, new_text: str, filename: str) -> tuple[list[str], list[str]]:
    """The code lines only the new text has, and those only the old text has."""
    old = [line.strip() for line in code_text(old_text, filename) if line.strip()]
    new = [line.strip() for line in code_text(new_text, filename) if line.strip()]
    added, removed = [], []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return added, removed


def _strings(line: str) -> list[str]:
    """The string literals of a line, without their quotes."""
    return [s[1:-1] if len(s) > 1 and s[-1] == s[0] else s[1:] for s in _STRING.findall(line)]


def _word(text: str) -> re.Pattern[str]:
    """``text`` not inside a longer word; an underscore may join it (``best_val_bpb``)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])")


def _outside(line: str, web: bool) -> bool:
    if _HOME.search(line):
        return True
    return any(_OUTSIDE_ALWAYS.search(s) or (not web and _ABSOLUTE.search(s))
               for s in _strings(line))


def _file_patterns(metric_files: Sequence[str]) -> list[re.Pattern[str]]:
    names = {RUN_LOG}
    for path in metric_files:
        if not any(c in path for c in "*?["):
            names.update({path, PurePosixPath(path).name})
    return [re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])") for name in sorted(names)]
