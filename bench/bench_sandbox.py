"""What sealing one agent call costs: the copy, the CLI's home copy, bubblewrap, the read back.

Makes a ~200-file project (a few KB each, a few executables and links) in a temporary
repository and a claude-like state directory (~60 files), then times, as medians over
``--rounds``:

- make_copy without and with a repository of its own (``with_git``), and ``committed``;
- agent_home.prepare for claude, and write_back;
- ``true`` run bare and under sandbox.wrap(level="strict"): the difference is bubblewrap's
  own cost per call;
- read_back after one target changed.

The target (issue 13): under 150 ms added per experiment with bubblewrap.

    python bench/bench_sandbox.py [--files 200] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import git  # noqa: E402

from autoresearch import agent_home, cross_back, project_copy, sandbox  # noqa: E402

TARGET_MS = 150.0


def make_project(root: Path, files: int) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for number in range(files):
        path = repo / f"pkg{number % 12}" / f"module_{number}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# module {number}\n" + "VALUE = 1\n" * (number % 40 * 10 + 20))
        if number % 50 == 0:
            path.chmod(0o755)
    (repo / "train.py").write_text("print('val_bpb: 1.0')\n")
    os.symlink("train.py", repo / "main.py")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "p")
    return repo


def make_claude_home(root: Path) -> dict[str, str]:
    home = root / "home"
    state = home / ".claude"
    for number in range(40):
        path = state / "plugins" / f"plugin{number % 4}" / f"file{number}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n" * 200)
    for number in range(20):
        path = state / "projects" / f"session{number}.jsonl"  # skipped by the copy
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n" * 5000)
    (state / "settings.json").write_text('{"model": "sonnet"}\n')
    (state / ".credentials.json").write_text('{"token": "t"}\n')
    (home / ".claude.json").write_text('{"numStartups": 1}\n')
    return {**os.environ, "HOME": str(home)}


def median_ms(action: Callable[[int], None], rounds: int) -> float:
    times = []
    for number in range(rounds):
        start = time.perf_counter()
        action(number)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    level, why = sandbox.probe()
    print(f"sandbox level here: {level} ({why})")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        repo = make_project(root, args.files)
        environ = make_claude_home(root)
        copies = root / "copies"
        figures: dict[str, float] = {}

        def copy(number: int, with_git: bool = False) -> None:
            project_copy.make_copy(repo, "HEAD", "", copies / f"{with_git}{number}",
                                   with_git=with_git)

        figures["make_copy"] = median_ms(copy, args.rounds)
        figures["make_copy with_git"] = median_ms(lambda n: copy(n, True), args.rounds)
        figures["committed"] = median_ms(
            lambda n: project_copy.committed(repo, "HEAD", ""), args.rounds)
        homes = root / "homes"
        figures["agent_home.prepare (claude)"] = median_ms(
            lambda n: agent_home.prepare("claude", homes / str(n), environ), args.rounds)
        home = agent_home.prepare("claude", homes / "last", environ)
        figures["agent_home.write_back"] = median_ms(
            lambda n: agent_home.write_back(home), args.rounds)
        target = copies / "False0"
        (target / "train.py").write_text("print('val_bpb: 0.9')\n")
        listing = project_copy.committed(repo, "HEAD", "")
        figures["read_back"] = median_ms(
            lambda n: cross_back.read_back(target, ["train.py"], listing), args.rounds)
        bare = median_ms(lambda n: subprocess.run(["true"], check=True), args.rounds)
        figures["true (bare)"] = bare
        if level == "strict":
            argv = sandbox.wrap(["true"], level="strict", copy=target,
                                writable=[homes / "last"], hidden=[repo, repo / ".git"])
            wrapped = median_ms(lambda n: subprocess.run(argv, check=True), args.rounds)
            figures["true under bwrap"] = wrapped
            figures["bwrap's own cost"] = wrapped - bare
        for name, value in figures.items():
            print(f"{name:32} {value:8.1f} ms")
        added = (figures["make_copy"] + figures["committed"] + figures["read_back"]
                 + figures["agent_home.prepare (claude)"] + figures["agent_home.write_back"]
                 + figures.get("bwrap's own cost", 0.0))
        print(f"{'added per agent call':32} {added:8.1f} ms  "
              f"({added / TARGET_MS:.2f} of the {TARGET_MS:g} ms target)")
        for path in copies.iterdir():
            project_copy.remove_copy(path)
        shutil.rmtree(homes, ignore_errors=True)


if __name__ == "__main__":
    main()
