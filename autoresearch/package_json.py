"""What a package.json says about a build: the files it publishes, its scripts.

Output fields name built files (``main: dist/index.cjs``); ``files`` names what is
published (``dist``, ``index.js``); ``exports`` nests paths under conditions. Paths come
back relative to the package, without ``./``; globs and negations are kept apart.
"""

from __future__ import annotations

import json
from typing import Any

from autoresearch.project_files import ProjectFiles, normalize

PACKAGE_FILE = "package.json"
# Fields whose values are files the build writes (bin: the package's executables).
OUTPUT_FIELDS = ("main", "module", "browser", "unpkg", "jsdelivr", "umd:main", "bin",
                 "exports", "types", "typings")


def load(files: ProjectFiles, path: str = PACKAGE_FILE) -> dict[str, Any]:
    """The parsed package.json among the project's files; {} when missing or unreadable."""
    text = files.read(path)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def named_outputs(package: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, path)`` for every file an output field names, in field order."""
    found: list[tuple[str, str]] = []
    for name in OUTPUT_FIELDS:
        for raw in _strings(package.get(name)):
            path = normalize(raw)
            if path is not None and path not in {p for _, p in found}:
                found.append((name, path))
    return found


def published(package: dict[str, Any]) -> list[str]:
    """The ``files`` entries (paths or globs), without negations."""
    entries = package.get("files")
    if not isinstance(entries, list):
        return []
    paths = (normalize(e) for e in entries if isinstance(e, str) and not e.startswith("!"))
    return [p for p in paths if p is not None]


def scripts(package: dict[str, Any]) -> dict[str, str]:
    raw = package.get("scripts")
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}


def _strings(value: Any) -> list[str]:
    """Every string in a field: itself, a dict's values (exports conditions), a list's items."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
