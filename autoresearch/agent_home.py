"""A per-call copy of an agent CLI's own state (login, settings), and what goes back.

Working in the real state directory an agent could plant settings, hooks or MCP servers
for the user's later sessions. Each call gets a copy in a fresh directory and the
environment variables that point the CLI at it; afterwards only the credential file the
CLI refreshes is written back, when it changed and nothing else rewrote it meanwhile.
Where each CLI keeps its state: shared/AGENT-CLIS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One piece of real state and where its copy goes (``dest``, in the per-call home).

    The real location is ``$env/suffix`` when the variable ``env`` is set, else ``default``.
    """

    dest: str
    default: str
    env: str | None = None
    suffix: str = ""
    directory: bool = True


@dataclass(frozen=True)
class StateSpec:
    sources: tuple[Source, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # variable -> path in the home
    credentials: tuple[str, ...] = ()  # paths in the home written back when refreshed
    skip: tuple[str, ...] = ()  # top-level names of a copied directory left out


SCRATCH_ENV = {"XDG_CACHE_HOME": "cache", "XDG_STATE_HOME": "state"}  # empty, writable
TRANSCRIPTS = ("projects", "sessions", "history", "history.jsonl", "log", "logs", "tmp")
STATE: dict[str, StateSpec] = {
    "claude": StateSpec(
        sources=(Source("claude", "~/.claude", env="CLAUDE_CONFIG_DIR"),
                 Source("claude/.claude.json", "~/.claude.json", env="CLAUDE_CONFIG_DIR",
                        suffix=".claude.json", directory=False)),
        env={"CLAUDE_CONFIG_DIR": "claude"},
        credentials=("claude/.credentials.json",),
        skip=(*TRANSCRIPTS, "todos", "shell-snapshots", "debug", "file-history", "backups")),
    "codex": StateSpec(
        sources=(Source("codex", "~/.codex", env="CODEX_HOME"),),
        env={"CODEX_HOME": "codex"},
        credentials=("codex/auth.json",),
        skip=(*TRANSCRIPTS, "archived_sessions")),
    "gemini": StateSpec(
        sources=(Source("gemini/.gemini", "~/.gemini", env="GEMINI_CLI_HOME", suffix=".gemini"),),
        env={"GEMINI_CLI_HOME": "gemini"},
        credentials=("gemini/.gemini/oauth_creds.json",),
        skip=TRANSCRIPTS),
    "opencode": StateSpec(
        sources=(Source("data/opencode", "~/.local/share/opencode", env="XDG_DATA_HOME",
                        suffix="opencode"),
                 Source("config/opencode", "~/.config/opencode", env="XDG_CONFIG_HOME",
                        suffix="opencode"),
                 # its provider packages: an empty cache would download them each call
                 Source("cache/opencode", "~/.cache/opencode", env="XDG_CACHE_HOME",
                        suffix="opencode")),
        env={"XDG_DATA_HOME": "data", "XDG_CONFIG_HOME": "config"},
        credentials=("data/opencode/auth.json",),
        skip=(*TRANSCRIPTS, "storage", "snapshot")),
    # aider has no variable for ~/.aider: it gets a home of its own.
    "aider": StateSpec(
        sources=(Source("aider/.aider", "~/.aider"),
                 *(Source(f"aider/{name}", f"~/{name}", directory=False) for name in (
                     ".aider.conf.yml", ".aider.model.settings.yml",
                     ".aider.model.metadata.json", ".env"))),
        env={"HOME": "aider"}),
}


@dataclass(frozen=True)
class Credential:
    copy: Path  # in the per-call home
    real: Path  # the user's file (links resolved)
    original: bytes | None  # its bytes when the copy was made


@dataclass(frozen=True)
class AgentHome:
    path: Path
    env: Mapping[str, str]  # layer over the agent's environment
    credentials: tuple[Credential, ...]


def prepare(agent: str, dest: Path, environ: Mapping[str, str] = os.environ) -> AgentHome:
    """Copy ``agent``'s state into ``dest`` (created, private); an agent with no state of
    its own (command, tune) gets an empty directory and no variables."""
    dest.mkdir(parents=True, mode=0o700)
    spec = STATE.get(agent)
    if spec is None:
        return AgentHome(dest, {}, ())
    for source in spec.sources:
        target = dest / source.dest
        if not target.exists():  # the first source of a path wins (the newer layout)
            _copy(_real(source, environ), target, source.directory, spec.skip)
    env = {name: str(dest / rel) for name, rel in {**SCRATCH_ENV, **spec.env}.items()}
    for rel in SCRATCH_ENV.values():
        (dest / rel).mkdir(mode=0o700, exist_ok=True)
    if "HOME" in spec.env and "PYTHONUSERBASE" not in environ:
        # A tool installed with ``pip install --user`` is found through HOME.
        env["PYTHONUSERBASE"] = str(_expand("~/.local", environ))
    credentials = tuple(_credential(spec, rel, dest, environ) for rel in spec.credentials)
    return AgentHome(dest, env, credentials)


def write_back(home: AgentHome) -> list[Path]:
    """Write each refreshed credential back to the user's file; return the files written.

    Only a credential that existed before the call, is a regular file holding a JSON object
    now, differs from before, and whose real file still holds what was copied (no other
    session refreshed it meanwhile) goes back. Everything else in the home is dropped.
    """
    written = []
    for credential in home.credentials:
        new = _regular_bytes(credential.copy)
        if credential.original is None or new is None or new == credential.original:
            continue
        if not _json_object(new) or _regular_bytes(credential.real) != credential.original:
            continue
        _replace(credential.real, new)
        written.append(credential.real)
    return written


def _expand(path: str, environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or str(Path.home())
    return Path(home + path[1:]) if path.startswith("~") else Path(path)


def _real(source: Source, environ: Mapping[str, str]) -> Path:
    moved = environ.get(source.env) if source.env else None
    path = Path(moved) / source.suffix if moved else _expand(source.default, environ)
    return Path(os.path.realpath(path))


def _credential(spec: StateSpec, rel: str, dest: Path, environ: Mapping[str, str]) -> Credential:
    source = max((s for s in spec.sources if rel.startswith(s.dest + "/")),
                 key=lambda s: len(s.dest))
    real = Path(os.path.realpath(_real(source, environ) / rel[len(source.dest) + 1:]))
    return Credential(dest / rel, real, _regular_bytes(real))


def _copy(real: Path, target: Path, directory: bool, skip: tuple[str, ...]) -> None:
    if not directory:
        if _regular_bytes(real) is not None:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(real, target)
        return
    target.mkdir(parents=True, exist_ok=True, mode=0o700)  # a CLI may require it to exist
    if real.is_dir():
        _copy_tree(real, target, skip, seen=set())


def _copy_tree(src: Path, dst: Path, skip: tuple[str, ...], seen: set[tuple[int, int]]) -> None:
    """Copy ``src`` into ``dst`` following links (a link could lead a write back out of the
    copy), skipping special files, loops and what vanished or cannot be read."""
    try:
        info = src.stat()
        entries = list(os.scandir(src))
    except OSError:
        return
    if (info.st_dev, info.st_ino) in seen:
        return
    seen.add((info.st_dev, info.st_ino))
    for entry in entries:
        if entry.name in skip:
            continue
        target = dst / entry.name
        try:
            if entry.is_dir():
                target.mkdir(mode=0o700, exist_ok=True)
                _copy_tree(Path(entry.path), target, (), seen)
            elif entry.is_file():
                shutil.copy2(entry.path, target)
        except OSError:
            continue


def _regular_bytes(path: Path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file (not a link), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read()


def _json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


def _replace(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, keeping its permission bits (0600)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    temp = path.with_name(f".{path.name}.{os.getpid()}.autoresearch")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
