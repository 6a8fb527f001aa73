"""git's tree objects read and written in this process: no git process per candidate.

A tree object is a list of ``<mode> <name>\\0<20-byte id>`` entries in git's order. The
loop only replaces files that exist in the base tree (the targets are checked to be
tracked regular files), so an entry keeps its place and the order stays git's; a path
that is not there is a ``KeyError`` and the caller falls back to git's own plumbing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

TREE_MODE = b"40000"

Entry = tuple[bytes, bytes, bytes]  # mode (octal digits), name, binary object id


def parse_tree(data: bytes) -> list[Entry]:
    entries, at = [], 0
    while at < len(data):
        space = data.index(b" ", at)
        nul = data.index(b"\0", space)
        entries.append((data[at:space], data[space + 1:nul], data[nul + 1:nul + 21]))
        at = nul + 21
    return entries


def serialize_tree(entries: list[Entry]) -> bytes:
    return b"".join(mode + b" " + name + b"\0" + oid for mode, name, oid in entries)


def walk(read: Callable[[bytes], bytes], tree: bytes, prefix: str = ""
         ) -> Iterator[tuple[str, int, str]]:
    """(path, mode, hex id) of every non-tree entry below ``tree``, as ``ls-tree -r``."""
    for mode, name, oid in parse_tree(read(tree)):
        path = prefix + name.decode("utf-8", "surrogateescape")
        if mode == TREE_MODE:
            yield from walk(read, oid, path + "/")
        else:
            yield path, int(mode, 8), oid.hex()


def subtree(read: Callable[[bytes], bytes], tree: bytes, path: str) -> bytes:
    """The id of the tree at ``path`` ("" is ``tree`` itself); KeyError when there is none."""
    for part in [p for p in path.split("/") if p]:
        wanted = part.encode("utf-8", "surrogateescape")
        tree = next(oid for mode, name, oid in parse_tree(read(tree))
                    if name == wanted and mode == TREE_MODE)  # StopIteration -> KeyError below
    return tree


def replaced(read: Callable[[bytes], bytes], write: Callable[[bytes], bytes], tree: bytes,
             files: Mapping[str, tuple[bytes, bytes]]) -> bytes:
    """The id of ``tree`` with each ``path -> (mode, blob id)`` of ``files`` replaced; each
    path must name an existing non-tree entry (KeyError otherwise)."""
    here: dict[bytes, tuple[bytes, bytes]] = {}
    below: dict[bytes, dict[str, tuple[bytes, bytes]]] = {}
    for path, value in files.items():
        first, _, rest = path.partition("/")
        name = first.encode("utf-8", "surrogateescape")
        if rest:
            below.setdefault(name, {})[rest] = value
        else:
            here[name] = value
    entries = parse_tree(read(tree))
    found = set()
    for index, (mode, name, oid) in enumerate(entries):
        if name in here and mode != TREE_MODE:
            entries[index] = (here[name][0], name, here[name][1])
            found.add(name)
        elif name in below and mode == TREE_MODE:
            entries[index] = (mode, name, replaced(read, write, oid, below[name]))
            found.add(name)
    missing = (here.keys() | below.keys()) - found
    if missing:
        raise KeyError(sorted(missing)[0].decode("utf-8", "surrogateescape"))
    return write(serialize_tree(entries))
