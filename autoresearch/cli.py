"""``autoresearch <command> [options]``: the same tasks as ``doit <command>``, in the current
directory, with the command line parsed once (commands.py) and handed to doit's task.

Exit codes (the README's table; the same under ``doit``):
  0 success · 1 a task failed · 2 bad config, recipe, option or metric definition ·
  3 environment (git/agent/a program missing, not a repository) · 4 the agent failed too
  many times in a row · 5 another loop holds the project · 6 a file could not be written ·
  7 the experiments keep crashing, or no working baseline · 70 internal error (a bug) ·
  129 SIGHUP · 130 Ctrl-C · 141 stdout closed · 143 SIGTERM
"""

from __future__ import annotations

import os
import sys

from autoresearch import __version__, commands, output
from autoresearch.errors import ConfigError, ExitCode, Interrupted


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else ExitCode.FAILED
    except Interrupted as interrupt:  # stdout closed while printing help, say
        return interrupt.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # e.g. `autoresearch loop --help | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.STDOUT_CLOSED


def _main(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        output.result(commands.usage().rstrip("\n"))
        return ExitCode.OK
    if args[0] in ("-V", "--version"):
        output.result(f"autoresearch {__version__}")
        return ExitCode.OK
    try:
        commands.command(args[0])
        if any(a in ("-h", "--help") for a in args[1:args.index("--") if "--" in args
                                                   else len(args)]):
            output.result(commands.help_text(args[0]))
            return ExitCode.OK
        invocation = commands.parse(args[0], args[1:])
    except ConfigError as problem:
        output.error(problem.message)
        return ExitCode.BAD_INPUT
    return _run(invocation)


def _run(invocation: commands.Invocation) -> int:
    """Run the command's doit task with the parsed invocation (nothing written by doit)."""
    from doit.cmd_base import TaskLoader2
    from doit.doit_cmd import DoitMain
    from doit.task import dict_to_task

    from autoresearch import tasks
    from autoresearch.engine import doit_config

    class CommandLoader(TaskLoader2):
        def setup(self, opt_values):
            pass

        def load_doit_config(self):
            return doit_config(None)  # the commands' own runs need no database

        def load_tasks(self, cmd, pos_args):
            task = tasks.task_for(invocation.command, (tasks.perform, [invocation]),
                                  params=False)
            return [dict_to_task({**task, "name": invocation.command})]

    code = DoitMain(CommandLoader(), config_filenames=()).run(["run", invocation.command])
    return ExitCode.OK if code == 0 else ExitCode.INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
