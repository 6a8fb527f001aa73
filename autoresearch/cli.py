"""``autoresearch <task> [options]``: drives the package's doit tasks in the current directory.

Exit codes (also in the README):
  0 success · 1 a task failed · 2 bad config, recipe, option or metric definition ·
  3 environment (git/agent missing, not a repository, dirty tree) · 4 the agent failed
  too many times in a row · 5 another loop holds the repository · 6 a log could not be
  written · 70 internal error (a bug) · 130 interrupted (Ctrl-C) · 143 terminated (SIGTERM)
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

from autoresearch import __version__, output
from autoresearch.errors import ExitCode

USAGE = """usage: autoresearch <command> [options]

commands:
{commands}

Every command takes the config keys as options too (e.g. --time-budget 60, --agent tune);
'autoresearch <command> --help' lists them. Exit codes are in README.md.
"""


def _tasks_module():
    from autoresearch import tasks

    return tasks


def _doc(name: str) -> str:
    return (getattr(_tasks_module(), f"task_{name}").__doc__ or "").strip()


def usage() -> str:
    names = _tasks_module().TASK_NAMES
    width = max(map(len, names))
    return USAGE.format(commands="\n".join(f"  {n.ljust(width)}  {_doc(n)}" for n in names))


def task_help(name: str) -> str:
    task = getattr(_tasks_module(), f"task_{name}")()
    lines = [f"usage: autoresearch {name} [options]"
             + (f" [{task['pos_arg']}...]" if task.get("pos_arg") else ""), "", _doc(name), ""]
    for param in task["params"]:
        flag = f"--{param['long']}" + ("" if param["type"] is bool else " VALUE")
        if param.get("short"):
            flag = f"-{param['short']}, {flag}"
        lines.append(f"  {flag.ljust(34)} {param['help']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # e.g. `autoresearch loop --help | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        output.result(usage())
        return ExitCode.OK
    if args[0] in ("-V", "--version"):
        output.result(f"autoresearch {__version__}")
        return ExitCode.OK
    names = _tasks_module().TASK_NAMES
    if args[0] not in names:
        hint = difflib.get_close_matches(args[0], names, n=1)
        suggestion = f"did you mean '{hint[0]}'? " if hint else ""
        output.error(f"unknown command '{args[0]}'; {suggestion}commands: {', '.join(names)}")
        return ExitCode.BAD_INPUT
    if any(a in ("-h", "--help") for a in args[1:]):
        output.result(task_help(args[0]))
        return ExitCode.OK
    try:
        options = normalize_options(args[0], args[1:])
    except ValueError as problem:
        output.error(str(problem))
        return ExitCode.BAD_INPUT
    return _run_doit([args[0], *options])


def normalize_options(name: str, args: list[str]) -> list[str]:
    """``args`` with every option as ``--name=value``; ValueError names the first bad one.

    doit would take a separate value containing '=' (a jmespath query, say) for one of
    its ``name=value`` command-line variables, so values are always attached.
    """
    task = getattr(_tasks_module(), f"task_{name}")()
    params = {f"--{p['long']}": p for p in task["params"]}
    params.update({f"-{p['short']}": p for p in task["params"] if p.get("short")})
    normalized: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-") or arg == "-":
            if task.get("pos_arg") and "=" not in arg:
                normalized.append(arg)
                continue
            raise ValueError(f"'{name}' takes no argument {arg!r}; options start with --")
        flag, has_value, value = arg.partition("=")
        param = params.get(flag)
        if param is None:
            hint = difflib.get_close_matches(flag, list(params), n=1)
            suggestion = f"did you mean '{hint[0]}'? " if hint else ""
            raise ValueError(f"unknown option '{flag}' for '{name}'; {suggestion}"
                             f"see 'autoresearch {name} --help'")
        if param["type"] is bool:
            if has_value:
                raise ValueError(f"option {flag} takes no value")
            normalized.append(f"--{param['long']}")
            continue
        if not has_value:
            if index >= len(args):
                raise ValueError(f"option {flag} needs a value")
            value = args[index]
            index += 1
        if param["type"] is int:
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"option {flag} = {value!r} must be a whole number") from None
            if number < 0:
                raise ValueError(f"option {flag} = {value!r} must not be negative")
        normalized.append(f"--{param['long']}={value}")
    return normalized


def _run_doit(args: list[str]) -> int:
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    tasks = _tasks_module()
    Path(tasks.STATE_DIR).mkdir(exist_ok=True)
    tasks.Failure.error = None
    try:
        code = DoitMain(ModuleTaskLoader(tasks)).run(["run", *args])
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    error = tasks.Failure.error
    if error is not None:
        return int(error.exit_code)
    if code == 3:  # doit rejected the command line before running anything
        return ExitCode.BAD_INPUT
    if code != 0:
        return ExitCode.INTERNAL
    return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
