"""Before any run: does the run command's program exist? One line naming what is missing.

A missing program would crash the baseline and every candidate with "exit code 127" while a
paid agent keeps proposing changes. Each simple command of the line is checked (after
``cd``, environment assignments and prefixes such as ``nice`` or ``timeout``): the program
is on PATH, or a ``./path`` that exists and is executable; ``python``/``node``/``bash``
have their script file; ``uv run``, ``poetry run``... have theirs too; ``npm run build``
needs node, npm, a ``build`` script, and the programs that script runs (in
node_modules/.bin, else on PATH).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from autoresearch.errors import EnvironmentProblem
from autoresearch.shell_words import Command, commands

BUILTINS = frozenset({"cd", "echo", "printf", "true", "false", "exit", "export", "set", "unset",
                      "test", "[", ":", ".", "source", "eval", "read", "shift", "wait", "trap",
                      "return", "local", "alias", "type", "ulimit", "umask", "pwd", "command",
                      "hash", "which"})
PYTHONS = ("python", "python3", "pypy3")
SCRIPT_RUNNERS = {"node": {"-r", "--require", "--import", "--loader", "--conditions", "-C"},
                  "bash": set(), "sh": set(), "zsh": set(), "tsx": set(), "ts-node": set(),
                  "Rscript": set(), "julia": set(), "ruby": set(), "perl": set()}
ENV_RUNNERS = {("uv", "run"), ("poetry", "run"), ("pdm", "run"), ("pipenv", "run"),
               ("hatch", "run"), ("rye", "run"), ("conda", "run")}
PACKAGE_MANAGERS = {"npm", "yarn", "pnpm", "bun"}
NPM_SHORTCUTS = {"test", "start", "stop", "restart"}
NEEDS_JAVA = {"mvn", "mvnw", "gradle", "gradlew", "java", "kotlin"}
MAX_DEPTH = 5
NODE = "install Node.js and npm (https://nodejs.org, or apt-get install nodejs npm)"
JDK = "install a JDK (apt-get install default-jdk) or set JAVA_HOME"
HOW_TO_INSTALL = {
    "python": "install Python 3 (apt-get install python3)",
    "python3": "install Python 3 (apt-get install python3)",
    "node": NODE, "npm": NODE, "npx": NODE,
    "yarn": "run 'corepack enable' (Node.js 16.10+) or 'npm install -g yarn'",
    "pnpm": "run 'corepack enable' (Node.js 16.13+) or 'npm install -g pnpm'",
    "bun": "install Bun (https://bun.sh)",
    "uv": "install uv (pip install uv, or https://docs.astral.sh/uv)",
    "poetry": "install Poetry (pipx install poetry)",
    "flutter": "install the Flutter SDK (https://docs.flutter.dev/get-started/install) and put "
               "its bin directory on PATH",
    "dart": "install the Dart SDK (https://dart.dev/get-dart)",
    "mvn": "install Maven (apt-get install maven), or add the Maven wrapper (mvn wrapper:wrapper) "
           "and run ./mvnw",
    "gradle": "install Gradle (https://gradle.org/install), or add the Gradle wrapper "
              "(gradle wrapper) and run ./gradlew",
    "java": JDK, "javac": JDK,
    "cargo": "install Rust (https://rustup.rs)",
    "go": "install Go (https://go.dev/dl)",
    "make": "install make (apt-get install make)",
    "torchrun": "install PyTorch (pip install torch)",
}


def check(run_command: str, project_dir: Path, *,
          env: Mapping[str, str] | None = None) -> None:
    """Raise EnvironmentProblem naming the first program or file ``run_command`` needs and
    lacks, and how to get it. ``env`` is the run's environment (PATH, JAVA_HOME)."""
    environment = dict(os.environ if env is None else env)
    problem = _check_line(run_command, project_dir, environment, [], depth=0)
    if problem:
        raise EnvironmentProblem(f"run_command {run_command!r}: {problem}")


def _check_line(line: str, cwd: Path, env: dict[str, str], extra_path: list[Path],
                depth: int) -> str | None:
    for command in commands(line):
        if not (cwd / command.cwd).is_dir():
            return f"directory {command.cwd} (cd) does not exist in {cwd}"
        problem = _check_command(command, cwd / command.cwd, env, extra_path, depth)
        if problem:
            return problem
    return None


def _check_command(command: Command, cwd: Path, env: dict[str, str],
                   extra_path: list[Path], depth: int) -> str | None:
    program = command.program
    if program in BUILTINS or program.startswith(("$", "`")):
        return None
    problem = _find_program(program, cwd, env, extra_path)
    if problem:
        return problem
    name = os.path.basename(program)
    args = list(command.argv[1:])
    if name.removesuffix(".exe") in NEEDS_JAVA and not _has_java(env):
        return f"{program} needs Java, which is not installed (no java on PATH); {JDK}"
    if name.startswith(PYTHONS) or name in SCRIPT_RUNNERS:
        return _script_argument(name, args, cwd)
    if args and (name, args[0]) in ENV_RUNNERS:
        inner = [a for a in args[1:] if not a.startswith("-")]
        if inner and inner[0].endswith(".py"):
            return _missing_file(inner[0], cwd, f"{name} run")
        if inner and inner[0].startswith(PYTHONS):
            return _script_argument(inner[0], args[args.index(inner[0]) + 1:], cwd)
        return None
    if name in PACKAGE_MANAGERS:
        return _package_script(name, args, cwd, env, extra_path, depth)
    return None


def _find_program(program: str, cwd: Path, env: dict[str, str],
                  extra_path: list[Path]) -> str | None:
    if "/" in program:
        path = cwd / program
        if not path.is_file():
            return f"{program} does not exist in {cwd}"
        if not os.access(path, os.X_OK):
            relative = program.removeprefix("./")
            return (f"{program} is not executable: run 'chmod +x {relative}' (and "
                    f"'git update-index --chmod=+x {relative}' to commit the mode)")
        return None
    search = os.pathsep.join([*map(str, extra_path), env.get("PATH", "")])
    if shutil.which(program, path=search) is None:
        hint = HOW_TO_INSTALL.get(program, "install it, or change run_command")
        return f"'{program}' is not installed (not on PATH); {hint}"
    return None


def _has_java(env: dict[str, str]) -> bool:
    home = env.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return True
    return shutil.which("java", path=env.get("PATH", "")) is not None


def _script_argument(name: str, args: list[str], cwd: Path) -> str | None:
    """The script file a Python/Node/shell interpreter is given must exist."""
    with_values = SCRIPT_RUNNERS.get(name, {"-W", "-X", "--check-hash-based-pycs"})
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-m", "-c", "-e", "-p", "--eval", "--print", "-"):
            return None  # a module or inline code, not a file
        if arg.startswith("-"):
            index += 2 if arg in with_values else 1
            continue
        return _missing_file(arg, cwd, name)
    return None


def _missing_file(path: str, cwd: Path, runner: str) -> str | None:
    if (cwd / path).exists():
        return None
    return f"{runner} needs {path}, which does not exist in {cwd}"


def _package_script(manager: str, args: list[str], cwd: Path, env: dict[str, str],
                    extra_path: list[Path], depth: int) -> str | None:
    """``npm run X`` and friends: node, package.json, the script, and what the script runs."""
    if shutil.which("node", path=env.get("PATH", "")) is None and manager != "bun":
        return f"{manager} needs node, which is not installed (not on PATH); {NODE}"
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return None
    if words[0] in ("run", "run-script") and len(words) > 1:
        script = words[1]
    elif words[0] in NPM_SHORTCUTS or (manager != "npm" and words[0] not in (
            "install", "ci", "add", "exec", "dlx", "x", "create", "init")):
        script = words[0]
    else:
        return None
    package = cwd / "package.json"
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts") or {}
    except (OSError, ValueError, AttributeError):
        return f"{manager} {' '.join(words[:2])} needs {package}, which is missing or not JSON"
    if not isinstance(scripts, dict) or not isinstance(scripts.get(script), str):
        if manager != "npm" and words[0] != "run":  # yarn vite build: a program, not a script
            return _bin_or_missing(words[0], cwd, manager)
        if script == "start" and (cwd / "server.js").is_file():
            return None  # npm start's default
        listed = ", ".join(sorted(scripts)) if isinstance(scripts, dict) and scripts else "none"
        return (f"package.json in {cwd} has no script '{script}' (its scripts: {listed}); "
                "add it or change run_command")
    if depth >= MAX_DEPTH:
        return None
    bins = [directory / "node_modules" / ".bin" for directory in (cwd, *cwd.parents)]
    problem = _check_line(scripts[script], cwd, env, bins + extra_path, depth + 1)
    if problem and "not installed" in problem and not (cwd / "node_modules").is_dir():
        return (f"{manager} run {script} runs '{scripts[script]}': {problem.split(';')[0]}; "
                f"node_modules is missing: run '{_install_command(manager, cwd)}' first")
    if problem:
        return f"{manager} run {script} runs '{scripts[script]}': {problem}"
    return None


def _bin_or_missing(program: str, cwd: Path, manager: str) -> str | None:
    bins = [directory / "node_modules" / ".bin" for directory in (cwd, *cwd.parents)]
    if any((b / program).exists() for b in bins):
        return None
    return (f"{manager} {program}: no script or installed program '{program}' in {cwd}; "
            f"run '{_install_command(manager, cwd)}' or change run_command")


def _install_command(manager: str, cwd: Path) -> str:
    if manager == "npm" and (cwd / "package-lock.json").is_file():
        return "npm ci"
    return f"{manager} install"
