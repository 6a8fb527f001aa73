"""What crosses back from the agent's copy: the bytes of the target files, nothing else.

Each target is read without following a symbolic link, from a path none of whose
directories is a link or a nested repository; a target that was deleted, became a link, a
directory, a submodule or anything but a regular file, or changed its executable bit, is a
rejection naming it. Everything else the agent created, changed or deleted in the copy is
listed (``ignored``) for the record and never carried over.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from autoresearch.git import TreeEntry
from autoresearch.project_copy import EXECUTABLE, LINK, SUBMODULE

MAX_TARGET_BYTES = 64 * 1024 * 1024  # a larger target is a rejection, not a memory hog
IGNORED_LIMIT = 200  # paths listed in a record; the rest are counted
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class CrossBack:
    """The outcome of reading the targets back from a copy.

    ``contents`` holds every target's bytes when nothing was rejected (else it is empty);
    ``rejections`` one line per rejected target; ``changed`` whether any target's bytes
    differ from the commit's; ``ignored`` the other paths the agent created, changed or
    deleted (a new directory as ``dir/``), sorted, at most ``IGNORED_LIMIT`` of them.
    """

    contents: Mapping[str, bytes]
    rejections: tuple[str, ...]
    changed: bool
    ignored: tuple[str, ...]
    ignored_total: int

    @property
    def rejected(self) -> bool:
        return bool(self.rejections)


def read_back(copy: Path, targets: Iterable[str], committed: Mapping[str, TreeEntry], *,
              with_git: bool = False) -> CrossBack:
    """Read ``targets`` (project-relative) from ``copy`` and compare with ``committed``.

    ``committed`` is :func:`autoresearch.project_copy.committed` of the commit the copy was
    made from; ``with_git`` says the copy's top-level ``.git`` is its own (``make_copy``'s
    ``with_git``), left out of ``ignored``.
    """
    targets = tuple(dict.fromkeys(targets))
    contents: dict[str, bytes] = {}
    rejections = []
    for target in targets:
        entry = committed.get(target)
        if entry is None or entry.mode in (LINK, SUBMODULE):
            raise ValueError(f"target {target!r} is not a committed regular file")
        outcome = _read_target(copy, target, entry)
        if isinstance(outcome, bytes):
            contents[target] = outcome
        else:
            rejections.append(f"the target file {target} {outcome}")
    changed = any(blob_id(data) != committed[t].oid for t, data in contents.items())
    ignored = sorted(_differences(copy, committed, set(targets), with_git))
    return CrossBack(contents={} if rejections else contents, rejections=tuple(rejections),
                     changed=changed, ignored=tuple(ignored[:IGNORED_LIMIT]),
                     ignored_total=len(ignored))


def blob_id(data: bytes) -> str:
    """The object id git gives a blob of ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _read_target(copy: Path, target: str, entry: TreeEntry) -> bytes | str:
    """The target's bytes, or what is wrong with it."""
    here = copy
    for part in target.split("/")[:-1]:
        here = here / part
        problem = _problem(here, directory=True)
        if problem:
            return f"cannot be read: its directory '{here.relative_to(copy)}' {problem}"
    path = copy / target
    problem = _problem(path, directory=False)
    if problem:
        return problem
    info = os.lstat(path)
    if bool(info.st_mode & 0o111) != (entry.mode == EXECUTABLE):
        now = "100755" if info.st_mode & 0o111 else "100644"
        return f"changed mode from {entry.mode:o} to {now}"
    return _read_regular(path, info)


def _problem(path: Path, *, directory: bool) -> str | None:
    """What makes ``path`` no longer the directory (or regular file) it was, if anything."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "was deleted"
    if stat.S_ISLNK(info.st_mode):
        return "became a symbolic link"
    if stat.S_ISDIR(info.st_mode):
        if _has_git(path):
            return "became a nested repository"
        return None if directory else "became a directory"
    if directory:
        return "is no longer a directory"
    return None if stat.S_ISREG(info.st_mode) else "is no longer a regular file"


def _has_git(directory: Path) -> bool:
    return os.path.lexists(directory / ".git")


def _read_regular(path: Path, seen: os.stat_result) -> bytes | str:
    """Read a file checked to be regular, refusing one swapped since (a fifo would block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (seen.st_dev, seen.st_ino):
            return "was replaced while it was read"
        data = handle.read(MAX_TARGET_BYTES + 1)
    if len(data) > MAX_TARGET_BYTES:
        return f"grew beyond {MAX_TARGET_BYTES // (1024 * 1024)} MiB"
    return data


def _differences(copy: Path, committed: Mapping[str, TreeEntry], targets: set[str],
                 with_git: bool) -> set[str]:
    """Paths other than the targets that differ between the copy and ``committed``."""
    known_dirs = {"/".join(p.split("/")[:i]) for p in committed for i in range(1, p.count("/") + 1)}
    known_dirs |= {p for p, e in committed.items() if e.mode == SUBMODULE}
    found: set[str] = set()
    differing: set[str] = set()
    for directory, dirnames, filenames in os.walk(copy):
        base = Path(directory).relative_to(copy).as_posix()
        prefix = "" if base == "." else base + "/"
        for name in list(dirnames):
            rel = prefix + name
            if with_git and rel == ".git":
                dirnames.remove(name)
            elif os.path.islink(os.path.join(directory, name)):
                filenames.append(name)  # a link to a directory is an entry, not a directory
                dirnames.remove(name)
            elif rel not in known_dirs or name == ".git":
                differing.add(rel + "/")  # new: listed once, not descended into
                dirnames.remove(name)
            elif rel in committed:  # a submodule's directory
                found.add(rel)
        for name in filenames:
            rel = prefix + name
            found.add(rel)
            if rel not in targets and not _same(Path(directory, name), committed.get(rel)):
                differing.add(rel)
    missing = {p for p in committed if p not in found and p not in targets}
    return differing | missing


def _same(path: Path, entry: TreeEntry | None) -> bool:
    try:
        return entry is not None and _matches(path, entry)
    except OSError:  # it went away while we looked
        return False


def _matches(path: Path, entry: TreeEntry) -> bool:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return entry.mode == LINK and blob_id(os.fsencode(os.readlink(path))) == entry.oid
    if not stat.S_ISREG(info.st_mode) or entry.mode in (LINK, SUBMODULE):
        return False
    if bool(info.st_mode & 0o111) != (entry.mode == EXECUTABLE):
        return False
    return _file_id(path, info.st_size) == entry.oid


def _file_id(path: Path, size: int) -> str:
    digest = hashlib.sha1(b"blob %d\0" % size)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
