"""Shared fixtures: real temporary git repositories, the CLI as a user runs it, and small
real projects of each type (ML, Web, Flutter, Java/Kotlin, Custom).

Project factories are fixtures returning a function ``make(root=None, **options) -> Path``
that writes the project into ``root`` (default ``tmp_path / "<type>"``) and, with
``git=True``, makes it a repository with one commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import helpers
import pytest
from helpers import IDENTITY, home_environment

# The stand-in agents keep their plans and counters beside the test's project (under /tmp),
# which the strict sandbox hides: the suite runs them at the basic level unless a test asks
# for strict (tests/test_adversarial.py runs every misbehaviour at both levels).
os.environ.setdefault("AUTORESEARCH_SANDBOX", "basic")

# The session-scoped real cluster engines (ray_cluster, slurm_cluster): registered here so
# each starts once per session, whichever test modules use it.
pytest_plugins = ["cluster_fixtures"]

# The custom project's CLAUDE.md section, exactly as the seed's README writes it.
SEED_SECTION = """\
## autoresearch
- target_file: src/model.py
- run_command: python train.py --epochs 5
- metric_name: accuracy
- metric_parse: grep "accuracy:" run.log | tail -1 | awk '{print $2}'
- metric_direction: higher_is_better
- time_budget: 600
- readonly_files: data/dataset.py, config.yaml
"""


# -- git -----------------------------------------------------------------------------------

def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run ``git ARGS`` in ``cwd`` with this process's environment (``git_identity`` pins
    it) and return its stdout (stripped)."""
    return helpers.git(cwd, *args, check=check, env=os.environ)


def init_repo(path: Path, *, commit: bool = False) -> Path:
    """``git init`` (branch main) at ``path``; with ``commit``, commit everything in it."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    if commit:
        git(path, "add", "--all")
        git(path, "commit", "--quiet", "--message", "initial commit")
    return path


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pinned author/committer and no user or system git config (hooks, templates...)."""
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


@pytest.fixture
def git_repo(tmp_path: Path, git_identity: None) -> Path:
    """An empty git repository (branch main, no commits) with a pinned identity."""
    return init_repo(tmp_path / "repo")


@pytest.fixture(name="git")
def git_fixture() -> Callable[..., str]:
    """``git(cwd, *args, check=True) -> stdout``."""
    return git


# -- the CLI ---------------------------------------------------------------------------------

CliResult = tuple[int, str, str]


def run_autoresearch(args: list[str], cwd: Path, env: Mapping[str, str] | None = None,
                     timeout: float = 120) -> CliResult:
    """``python -m autoresearch ARGS`` in ``cwd``; returns (exit code, stdout, stderr)."""
    environment = dict(os.environ)
    # The dev venv first, so "python" in a project's run_command is this interpreter.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment.update(env or {})
    done = subprocess.run(helpers.command(*args), cwd=cwd,
                          capture_output=True, text=True, env=environment, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def env(tmp_path: Path, git_identity: None) -> dict[str, str]:
    """The environment for ``helpers.cli(cwd, ..., env=env)``: this process's (git identity
    pinned), HOME at ``tmp_path/home``, no retry backoff, and none of the variables that set
    kill points, colour, a recipe directory or what a stand-in agent does."""
    environment = home_environment(tmp_path)
    for name in ("AUTORESEARCH_KILL_AT", "AUTORESEARCH_KILL_AFTER", "AUTORESEARCH_RECIPES",
                 "NO_COLOR", "AGENT_MARK", "AGENT_SLEEP", "AGENT_ALSO", "AGENT_WAIT_FOR",
                 "STANDIN_MODE", "STANDIN_EDIT", "STANDIN_SAY", "STANDIN_SCRIPT"):
        environment.pop(name, None)
    return environment


@pytest.fixture
def run_cli() -> Callable[..., CliResult]:
    """``run_cli(args, cwd, env=None) -> (code, stdout, stderr)``: the CLI in a subprocess."""
    return run_autoresearch


def parse_config(stdout: str) -> dict[str, tuple[str, str]]:
    """``autoresearch config`` output as {key: (value, origin)}; header lines under '#'."""
    shown: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        if line.startswith("# "):
            key, _, rest = line[2:].partition(": ")
            shown["#" + key] = (rest, "")
            continue
        key, sep, rest = line.partition(" = ")
        if not sep:
            continue
        value, _, origin = rest.rpartition("  (")
        shown[key.strip()] = (value, origin.removesuffix(")"))
    return shown


@pytest.fixture
def show_config(run_cli) -> Callable[..., dict[str, tuple[str, str]]]:
    """``show_config(cwd, *flags, env=None)``: run ``autoresearch config``, expect exit 0, and
    return {key: (value, origin)}, with ``"#type"`` holding e.g. ``"ml (/path/ml.yaml)"``."""

    def show(cwd: Path, *flags: str, env: Mapping[str, str] | None = None):
        code, out, err = run_cli(["config", *flags], cwd, env)
        assert (code, err) == (0, ""), err
        return parse_config(out)

    return show


# -- projects of each type -------------------------------------------------------------------

def write_files(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
            path.chmod(0o755)
    return root


def _factory(tmp_path: Path, default_name: str,
             files: Callable[..., dict[str, str]]) -> Callable[..., Path]:
    def make(root: Path | None = None, *, git: bool = False, **options) -> Path:
        root = root or tmp_path / default_name
        root.mkdir(parents=True, exist_ok=True)
        write_files(root, files(**options))
        if git:
            init_repo(root, commit=True)
        return root

    return make


def ml_files(value: float = 1.0) -> dict[str, str]:
    """karpathy's layout: prepare.py (never edited), train.py printing ``val_bpb: N``."""
    return {
        "prepare.py": '"""Data and evaluation. Do not modify."""\n\nMAX_SEQ_LEN = 256\n',
        "train.py": (
            '"""Training script: the agent edits this file."""\n\n'
            "import prepare\n\n"
            f"VAL_BPB = {value!r}  # stands in for training\n\n"
            'print("---")\n'
            'print(f"val_bpb: {VAL_BPB:.6f}")\n'
            'print(f"seq_len: {prepare.MAX_SEQ_LEN}")\n'
        ),
    }


def web_files(source: str = "src/index.js") -> dict[str, str]:
    """package.json with ``source`` and ``main``; ``npm run build`` copies src into dist."""
    package = {
        "name": "web-example",
        "version": "1.0.0",
        "private": True,
        "source": source,
        "main": "dist/index.js",
        "scripts": {"build": "node build.js"},
    }
    return {
        "package.json": json.dumps(package, indent=2) + "\n",
        source: 'export function greet(name) {\n  return "hello " + name;\n}\n',
        "src/util.js": "export const answer = 42;\n",
        "build.js": (
            'const fs = require("fs");\n'
            'fs.mkdirSync("dist", { recursive: true });\n'
            f'fs.copyFileSync("{source}", "dist/index.js");\n'
        ),
    }


def flutter_files() -> dict[str, str]:
    return {
        "pubspec.yaml": (
            "name: flutter_example\n"
            "environment:\n  sdk: '>=3.0.0 <4.0.0'\n"
            "dependencies:\n  flutter:\n    sdk: flutter\n"
        ),
        "lib/main.dart": (
            "import 'package:flutter/material.dart';\n\n"
            "void main() => runApp(const MaterialApp(home: Text('hello')));\n"
        ),
    }


POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>app</artifactId>
  <version>1.0</version>
</project>
"""


def java_files(build: str = "maven", kotlin: bool = False,
               gradlew: bool = False) -> dict[str, str]:
    """A Maven (``build="maven"``) or Gradle (``"gradle"``, ``"gradle-kts"``) project whose
    main is ``src/main/java/com/example/App.java`` (or Kotlin ``src/main/kotlin/.../Main.kt``);
    a helper class without main sorts first, so detection must look for ``main``."""
    files = {
        "maven": {"pom.xml": POM},
        "gradle": {"build.gradle": "plugins { id 'application' }\n"},
        "gradle-kts": {"build.gradle.kts": 'plugins { kotlin("jvm") version "1.9.0" }\n'},
    }[build]
    if gradlew:
        files["gradlew"] = "#!/bin/sh\necho gradle wrapper \"$@\"\n"
    if kotlin:
        files["src/main/kotlin/com/example/Helper.kt"] = "package com.example\n\nfun helper() = 1\n"
        files["src/main/kotlin/com/example/Main.kt"] = (
            "package com.example\n\nfun main() {\n    println(\"hello\")\n}\n"
        )
    else:
        files["src/main/java/com/example/Adder.java"] = (
            "package com.example;\n\npublic class Adder {\n"
            "    public static int add(int a, int b) { return a + b; }\n}\n"
        )
        files["src/main/java/com/example/App.java"] = (
            "package com.example;\n\npublic class App {\n"
            "    public static void main(String[] args) {\n"
            "        System.out.println(Adder.add(1, 2));\n    }\n}\n"
        )
    return files


def custom_files(section: str = SEED_SECTION) -> dict[str, str]:
    """The seed's custom example: CLAUDE.md's section drives everything."""
    return {
        "CLAUDE.md": f"# Model project\n\nNotes for Claude.\n\n{section}\n## Other notes\n\nnone\n",
        "src/model.py": "LAYERS = 2\n",
        "train.py": (
            "import sys\n\nsys.path.insert(0, 'src')\nimport model\n\n"
            'print(f"accuracy: {0.5 + model.LAYERS / 100:.4f}")\n'
        ),
        "data/dataset.py": "ROWS = [1, 2, 3]\n",
        "config.yaml": "epochs: 5\n",
    }


@pytest.fixture
def ml_project(tmp_path: Path, git_identity: None) -> Callable[..., Path]:
    """``ml_project(root=None, *, git=False, value=1.0)``: train.py + prepare.py."""
    return _factory(tmp_path, "ml", ml_files)


@pytest.fixture
def web_project(tmp_path: Path, git_identity: None) -> Callable[..., Path]:
    """``web_project(root=None, *, git=False, source="src/index.js")``."""
    return _factory(tmp_path, "web", web_files)


@pytest.fixture
def flutter_project(tmp_path: Path, git_identity: None) -> Callable[..., Path]:
    """``flutter_project(root=None, *, git=False)``: pubspec.yaml + lib/main.dart."""
    return _factory(tmp_path, "flutter", flutter_files)


@pytest.fixture
def java_project(tmp_path: Path, git_identity: None) -> Callable[..., Path]:
    """``java_project(root=None, *, git=False, build="maven", kotlin=False, gradlew=False)``."""
    return _factory(tmp_path, "java", java_files)


@pytest.fixture
def custom_project(tmp_path: Path, git_identity: None) -> Callable[..., Path]:
    """``custom_project(root=None, *, git=False, section=SEED_SECTION)``."""
    return _factory(tmp_path, "custom", custom_files)
