"""The files a build emitted in this run, their sizes, and the entry outputs a candidate lost.

Every run starts in a clean tree, so what the run emitted is what exists after it, is not
tracked by git (a tracked file is never output) and lies under an output location. Files
matching an exclude glob (source maps, type declarations by default) are not counted.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from autoresearch import compression, pathglob

SKIPPED_DIRS = frozenset({"node_modules", ".git", ".autoresearch", ".claude"})
TOOL_FILES = frozenset({"run.log", "results.tsv"})  # what autoresearch writes at the top
_HASH_CHARS = re.compile(r"[A-Za-z0-9_-]{8,32}\Z")


@dataclass(frozen=True)
class Output:
    """One emitted file: ``size`` is what counts (compressed), ``raw_size`` its bytes on disk."""

    path: str
    size: int
    raw_size: int

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "raw_size": self.raw_size}

    @classmethod
    def from_json(cls, data: dict) -> "Output":
        return cls(str(data["path"]), int(data["size"]), int(data["raw_size"]))


def files_under(workdir: Path, locations: Iterable[str]) -> list[str]:
    """Every file under the locations (files, directories or globs), relative, sorted."""
    found: set[str] = set()
    for location in locations:
        location = location.strip().removeprefix("./").rstrip("/")
        if not location:
            continue
        if pathglob.GLOB_CHARS & set(location):
            matches = glob.glob(location, root_dir=workdir, recursive=True, include_hidden=True)
        else:
            matches = [location]
        for match in matches:
            found.update(_walk(workdir, match))
    return sorted(p for p in found if not _skipped(p))


def _walk(workdir: Path, relative: str) -> list[str]:
    path = workdir / relative
    if path.is_symlink():
        return []
    if path.is_file():
        return [Path(relative).as_posix()]
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in names:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append(Path(full).relative_to(workdir).as_posix())
    return found


def _skipped(path: str) -> bool:
    return path in TOOL_FILES or any(part in SKIPPED_DIRS for part in path.split("/"))


def select(files: Iterable[str], tracked: Collection[str],
           exclude: Iterable[str]) -> tuple[list[str], list[str]]:
    """(counted, excluded): the untracked ``files``, split by the exclude globs."""
    patterns = tuple(exclude)
    counted, excluded = [], []
    for path in files:
        if path in tracked:
            continue
        (excluded if pathglob.any_match(patterns, path, anywhere=True) else counted).append(path)
    return counted, excluded


def measure(workdir: Path, paths: Iterable[str], method: str) -> list[Output]:
    """The size of each file, compressed by ``method`` (none, gzip, brotli)."""
    outputs = []
    for path in paths:
        data = (workdir / path).read_bytes()
        outputs.append(Output(path, compression.compressed_size(data, method), len(data)))
    return outputs


# -- comparing a candidate's outputs with the best's ------------------------------------------

def without_hash(path: str) -> str:
    """``dist/assets/index-DEhKyjrE.js`` -> ``dist/assets/index.js``; also ``main.3f2a1b9c.js``
    and ``main.3f2a1b9c.chunk.js`` (webpack). Names without a content hash are unchanged."""
    directory, _, name = path.rpartition("/")
    parts = name.split(".")
    for index in range(len(parts) - 2, -1, -1):  # never the extension
        part = parts[index]
        if index > 0 and _is_hash(part):
            del parts[index]
            break
        stem, dash, tail = part.rpartition("-")
        while dash and not _is_hash(tail):
            stem, dash, rest = stem.rpartition("-")
            tail = f"{rest}-{tail}"
        if dash and stem:
            parts[index] = stem
            break
    cleaned = ".".join(parts)
    return f"{directory}/{cleaned}" if directory else cleaned


def _is_hash(text: str) -> bool:
    if not _HASH_CHARS.match(text):
        return False
    letters = [c for c in text if c.isalpha()]
    mixed_case = any(c.isupper() for c in letters) and any(c.islower() for c in letters)
    return any(c.isdigit() for c in text) or mixed_case


def missing_outputs(best: Iterable[str], candidate: Iterable[str],
                    required: Iterable[str]) -> list[str]:
    """The best run's entry outputs (matching a ``required`` glob, hash removed or not) that
    the candidate did not emit under the same name, content hashes aside."""
    patterns = tuple(required)
    have = {without_hash(path) for path in candidate}
    return [path for path in sorted(best)
            if without_hash(path) not in have
            and (pathglob.any_match(patterns, path) or
                 pathglob.any_match(patterns, without_hash(path)))]


def missing_error(missing: list[str], shown: int = 3) -> str | None:
    """The crash reason for lost entry outputs: ``output missing: dist/x.min.js``."""
    if not missing:
        return None
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    label = "output missing" if len(missing) == 1 else "outputs missing"
    return f"{label}: {', '.join(missing[:shown])}{more}"
