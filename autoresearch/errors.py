"""The one family of user-facing errors, each carrying its exit code.

Every error a user can cause (bad config, missing tool, dirty tree, ...) is a
``UserError``: the CLI prints its message on one line and exits with its code.
Anything else is a bug and exits with ``ExitCode.INTERNAL``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a task failed for a reason that is not the user's input
    BAD_INPUT = 2  # config, recipe, CLI option or metric definition is wrong
    ENVIRONMENT = 3  # git/agent missing, not a repository, dirty tree, wrong branch
    AGENT = 4  # the agent failed too many times in a row
    LOCKED = 5  # another loop holds the repository
    LOG_WRITE = 6  # results.tsv or the JSONL log could not be written
    CRASHING = 7  # the experiments keep crashing, or there is no working baseline
    INTERNAL = 70  # a bug in autoresearch: please report it
    HANGUP = 129  # SIGHUP (the terminal went away)
    INTERRUPTED = 130  # Ctrl-C
    STDOUT_CLOSED = 141  # the reader of stdout went away (SIGPIPE)
    TERMINATED = 143  # SIGTERM


class UserError(Exception):
    """An error the user can fix; its message is one line saying what and how."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(UserError):
    exit_code = ExitCode.BAD_INPUT


class EnvironmentProblem(UserError):
    exit_code = ExitCode.ENVIRONMENT


class AgentError(UserError):
    exit_code = ExitCode.AGENT


class LockedError(UserError):
    exit_code = ExitCode.LOCKED


class LogWriteError(UserError):
    exit_code = ExitCode.LOG_WRITE


class CrashingError(UserError):
    """The experiments keep crashing, or the loop has no working baseline to compare with."""

    exit_code = ExitCode.CRASHING


class Interrupted(BaseException):
    """A signal (SIGINT, SIGTERM, SIGHUP) or stdout closing (SIGPIPE) stops the command.

    A BaseException, so no ``except Exception`` eats it. The exit code is 128 + the signal.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signum).name
