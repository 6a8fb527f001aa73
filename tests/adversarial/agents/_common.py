"""What every misbehaving agent shares: where it is, where the real repository is, the honest
half of its work (an edit of the target), and a report of what its misbehaviour did.

The tool runs each script as its ``command`` agent, in its copy of the project (the working
directory: ``<state>/agent/copies/w<N>/project``), with the prompt on stdin and only the
standard library. Under the strict sandbox nothing outside the copy is writable and /tmp is
private, so a script reports on stderr (``ADV <what>: <outcome>``; the tool keeps the last
call's in ``<state>/agent/w<N>/command.stderr``), and what the test hands it comes through
its environment (``ADV_*``) or the exchange directory outside /tmp (``ADV_EXCHANGE``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path.cwd()
TARGET = Path(os.environ.get("AUTORESEARCH_TARGET") or "train.py")
PROMPT = sys.stdin.read() if not sys.stdin.isatty() else ""
WAIT_S = 60.0


# -- where the real things are (reached by walking up from the copy) -------------------------

def state() -> Path:
    """The tool's state directory: the copy is ``<state>/agent/copies/w<N>/project``."""
    return HERE.parents[3]


def worker() -> str:
    return HERE.parent.name  # w1, w2, ...


def common() -> Path:
    """The repository's git directory (``<common>/autoresearch/<project>``)."""
    return state().parents[1]


def root() -> Path:
    """The user's working tree (the test projects sit at the root of their repository)."""
    return common().parent


def tag() -> str:
    return os.environ.get("ADV_TAG", "adv")


# -- the honest half: an edit of the target --------------------------------------------------

def value() -> float:
    return float(re.search(r"^VALUE = (\S+)$", TARGET.read_text(), re.MULTILINE).group(1))


def with_value(text: str, new: float) -> str:
    return re.sub(r"^VALUE = \S+$", f"VALUE = {new!r}", text, count=1, flags=re.MULTILINE)


def jitter() -> float:
    """A few millionths that differ between calls: no two candidates are the same content."""
    return (time.time_ns() // 1000 % 997) * 1e-6


def worsen() -> float:
    """Raise VALUE (lower is better): any keep of this candidate is a fake one."""
    new = round(value() + 0.25 + jitter(), 6)
    TARGET.write_text(with_value(TARGET.read_text(), new))
    return new


def improve() -> float:
    """Lower VALUE: a real improvement."""
    new = round(value() - 0.1 - jitter(), 6)
    TARGET.write_text(with_value(TARGET.read_text(), new))
    return new


def experiments_so_far() -> int:
    """How many experiments the prompt lists (0 before the first candidate after the baseline
    counts as 1: the baseline)."""
    found = re.search(r"## Past experiments \((\d+) so far", PROMPT)
    return int(found.group(1)) if found else 0


# -- the misbehaviour's outcome ----------------------------------------------------------------

def report(line: str) -> None:
    print(f"ADV {line}", file=sys.stderr, flush=True)


def attempt(what: str, action) -> bool:
    """Try ``action()``; report ``what: done`` or the errno's name; True when it worked."""
    try:
        action()
    except OSError as exc:
        report(f"{what}: {errno.errorcode.get(exc.errno, exc.errno or type(exc).__name__)}")
        return False
    except subprocess.CalledProcessError as exc:
        report(f"{what}: exit {exc.returncode} {(exc.stderr or '').strip()[:120]}")
        return False
    report(f"{what}: done")
    return True


def write(path: Path, text: str | bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def append(path: Path, text: str) -> None:
    with open(path, "a") as handle:  # never creates a directory: it must be there
        handle.write(text)


def git(*args: str, cwd: Path | None = None, stdin: str | None = None,
        env: dict[str, str] | None = None) -> str:
    """``git ARGS`` in the real repository (no ceiling: it is named, not searched for)."""
    environment = {k: v for k, v in os.environ.items() if k != "GIT_CEILING_DIRECTORIES"}
    done = subprocess.run(["git", *args], cwd=cwd or root(), input=stdin, text=True,
                          capture_output=True, check=True, env={**environment, **(env or {})})
    return done.stdout.strip()


def forged_commit(files: dict[str, str], message: str = "tune") -> str:
    """A commit in the real repository on top of the tool's best with ``files`` replaced."""
    best = git("rev-parse", f"refs/autoresearch/{tag()}/best")
    index = {"GIT_INDEX_FILE": str(common() / f"adv-index-{os.getpid()}")}
    try:
        git("read-tree", best, env=index)
        for path, text in files.items():
            blob = git("hash-object", "-w", "--stdin", stdin=text)
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
        tree = git("write-tree", env=index)
    finally:
        Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return git("commit-tree", tree, "-p", best, "-m", message)


def forged_measurement(commit: str, value: float) -> dict:
    """A metrics.json for ``commit`` made from a real one of the tool's (its definition)."""
    found = sorted((state() / "runs").glob("*/metrics.json"))
    if not found:
        raise FileNotFoundError(errno.ENOENT, "no measurement to copy", str(state() / "runs"))
    real = found[0]
    data = json.loads(real.read_text())
    return {**data, "commit": commit, "value": value, "samples": [value], "error": None}


def wait_for_release(marker: str = "at-work") -> None:
    """Leave ``marker`` in the copy (the test watches for it) and wait until the test
    creates ``release`` in the exchange directory."""
    (HERE / marker).write_text(str(os.getpid()))
    release = Path(os.environ["ADV_EXCHANGE"]) / "release"
    deadline = time.monotonic() + WAIT_S
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    (HERE / marker).unlink(missing_ok=True)


def done(description: str) -> None:
    """The first line of stdout is the description; exit 0."""
    print(description, flush=True)
    sys.exit(0)
