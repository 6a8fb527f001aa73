"""Reading YAML files (recipes, autoresearch.yaml) into plain data with line numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch.errors import ConfigError


def read_text(path: Path) -> str:
    """A file's text as UTF-8, or a one-line error naming the file."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 text; save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def load_yaml_mapping(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The top-level mapping of a YAML file as plain Python data, and each key's 1-based line.

    Syntax errors, tabs, duplicate keys and a non-mapping document become one-line
    ConfigErrors naming the file and line.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = read_text(path)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "\t" in problem or "'\\t'" in problem:
            problem = "a tab character; indent YAML with spaces"
        duplicate = "duplicate key" in str(exc).lower() or "DuplicateKey" in type(exc).__name__
        if duplicate:
            problem = f"duplicate key: {_duplicate_key(str(exc))}"
        raise ConfigError(f"{path}:{line}: YAML error: {problem}") from None
    except YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}, {}
    if not hasattr(data, "items") or not hasattr(data, "lc"):
        raise ConfigError(f"{path}:1: expected a mapping of 'key: value' lines at the top level")
    lines = {str(k): data.lc.key(k)[0] + 1 for k in data}
    return {str(k): _plain(v) for k, v in data.items()}, lines


def _duplicate_key(message: str) -> str:
    for line in message.splitlines():
        if 'found duplicate key "' in line:
            return line.split('"')[1]
    return "a key appears twice"


def _plain(value: Any) -> Any:
    """ruamel's round-trip types into dict/list/str/int/float/bool/None."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
