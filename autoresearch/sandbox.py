"""How the agent is sealed: the level in force, and the command line that runs it.

``strict`` runs the agent under bubblewrap: the whole filesystem read-only, its copy and
the given writable paths (its CLI's home copy, its scratch) writable, the repository, the
git directory and the tool's state replaced by empty read-only directories, a private /tmp, its own
PID namespace (every process it started dies with the call), no capabilities (as root,
bubblewrap would keep them, and with them the power to unmount what hides the repository),
and the network on. ``basic`` runs it unconfined in its copy; the runner's process-group
kill ends what it started.

``sandbox_run: strict`` seals the experiment's run the same way (``wrap_run``; check_command,
metric_parse and the holdout command too: they run the candidate's code), with what
real builds and GPU jobs need: its worktree and the build tools' caches writable, the git
directory (and in it the tool's state) hidden, the host's devices (GPUs, /dev/shm) present.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from autoresearch.errors import EnvironmentProblem
from autoresearch.schema import SANDBOX_LEVELS

LEVELS = SANDBOX_LEVELS
BWRAP = "bwrap"
INSTALL = "apt-get install bubblewrap"
TRIAL_TIMEOUT_S = 20.0
# Sockets through which a process as the same user could start something outside the
# sandbox (systemd, dbus, docker): connecting to a socket is allowed on a read-only mount.
ESCAPE_SOCKETS = ("/run/user", "/run/dbus", "/run/systemd/private", "/run/docker.sock",
                  "/var/run/docker.sock", "/run/containerd", "/run/podman")
# What a sealed run may write in the user's home: the build tools' and ML caches.
RUN_CACHES = (".cache", ".npm", ".m2", ".gradle", ".pub-cache", ".triton", ".yarn", ".pnpm-store")


def probe(requested: str | None = None) -> tuple[str, str]:
    """The level in force for the ``sandbox`` setting ``requested`` (None: the default) and
    why, as ``autoresearch config`` shows it (after the setting's origin). ``strict`` where it cannot run is an
    ``EnvironmentProblem``; by default that falls back to ``basic``."""
    if requested not in (None, *LEVELS):
        raise ValueError(f"unknown sandbox level {requested!r}")
    if requested == "basic":
        return "basic", "the agent runs unconfined in its copy"
    executable = shutil.which(BWRAP)
    problem = _trial(executable) if executable else f"'{BWRAP}' is not on PATH"
    if problem is None:
        return "strict", f"{_version(executable)} at {executable} works"
    if requested == "strict":
        raise EnvironmentProblem(f"sandbox: strict needs bubblewrap, but {problem}; install it "
                                 f"({INSTALL}) where it can run, or set sandbox: basic")
    return "basic", (f"bubblewrap cannot be used ({problem}; {INSTALL} for the strict level): "
                     "the agent runs unconfined in its copy")


def wrap(argv: Sequence[str], *, level: str, copy: Path, writable: Iterable[Path] = (),
         hidden: Iterable[Path] = ()) -> list[str]:
    """The command line that runs ``argv`` in ``copy`` at ``level``.

    ``writable`` paths must exist. ``hidden`` paths (the repository root, the git common
    directory, the tool's state) that exist are replaced by empty ones; a writable path
    inside a hidden one stays reachable. Run it with ``cwd=copy``.
    """
    if level == "basic":
        return list(argv)
    if level != "strict":
        raise ValueError(f"unknown sandbox level {level!r}")
    return _bwrap(shutil.which(BWRAP) or BWRAP, argv, copy, writable, hidden)


def wrap_run(argv: Sequence[str], *, tree: Path, hidden: Iterable[Path],
             home: Path | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """The command line of an experiment run sealed under bubblewrap: ``tree`` and the
    caches that exist in ``home`` (and ``HF_HOME``) writable, ``hidden`` empty, the host's
    /dev (GPUs, /dev/shm) bound, a private /tmp, the network on."""
    home = Path(home or Path.home())
    environ = environ or {}
    caches = [home / name for name in RUN_CACHES]
    if environ.get("HF_HOME"):
        caches.append(Path(environ["HF_HOME"]))
    writable = [c for c in caches if c.is_dir()]
    return _bwrap(shutil.which(BWRAP) or BWRAP, argv, tree, writable, hidden, devices=True)


def copy_environment(copy: Path) -> dict[str, str]:
    """Variables for the agent at either level: git run in the copy never finds a
    repository above it (a copy inside the git directory would find the real one)."""
    return {"GIT_CEILING_DIRECTORIES": str(Path(copy).resolve().parent)}


def _bwrap(executable: str, argv: Sequence[str], copy: Path, writable: Iterable[Path],
           hidden: Iterable[Path], *, devices: bool = False) -> list[str]:
    copy = Path(copy).resolve()
    opened = {copy, *(Path(p).resolve() for p in writable)}
    missing = [str(p) for p in opened if not p.is_dir()]
    if missing:
        raise ValueError(f"writable paths must be existing directories: {', '.join(missing)}")
    closed = {Path(p).resolve() for p in (*hidden, *ESCAPE_SOCKETS)}
    closed = {p for p in closed if p.exists() or p.is_symlink()}
    if opened & closed:
        raise ValueError(f"paths both writable and hidden: {sorted(map(str, opened & closed))}")
    args = [executable, "--ro-bind", "/", "/",
            *(["--dev-bind", "/dev", "/dev"] if devices else ["--dev", "/dev"]),
            "--proc", "/proc", "--tmpfs", "/tmp"]
    # A mount covers whatever was mounted below it before: parents first.
    for path in sorted(opened | closed, key=lambda p: len(p.parts)):
        if path in opened:
            args += ["--bind", str(path), str(path)]
        elif path.is_dir():
            args += ["--tmpfs", str(path)]
        else:  # a file or socket: /dev/null reads empty, refuses a connection
            args += ["--dev-bind", "/dev/null", str(path)]
    # Read-only once the writable paths inside them have their mount points.
    for path in sorted(p for p in closed if p.is_dir()):
        args += ["--remount-ro", str(path)]
    return [*args, "--unshare-pid", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--setenv", "TMPDIR", "/tmp", "--chdir", str(copy), "--", *argv]


@functools.cache
def _trial(executable: str) -> str | None:
    """None when a sealed ``true`` runs under ``executable``, else what went wrong."""
    with tempfile.TemporaryDirectory() as scratch:
        argv = _bwrap(executable, ["true"], Path(scratch), (), ())
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=TRIAL_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            return f"a trial run of {executable} did not end within {TRIAL_TIMEOUT_S:g} s"
        except OSError as exc:
            return f"{executable} cannot be started ({exc.strerror or exc})"
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return f"a trial run of {executable} failed: {lines[-1] if lines else done.returncode}"


@functools.cache
def _version(executable: str) -> str:
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True,
                              timeout=TRIAL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "bubblewrap"
    return done.stdout.strip() or "bubblewrap"
