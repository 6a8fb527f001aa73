"""Every command, its options and the one parser of its command line.

A command's options are its own plus, for commands that work on a project, every config key
of the schema (``--time-budget 60``, ``--agent tune``...). The ``autoresearch`` script parses
argv with :func:`parse` (options and positional arguments in any order, ``--name=value`` or
``--name value``, ``--`` ends options); ``doit <task>`` parses with doit's own parser from
:func:`doit_params` (generated from the same options), and :func:`from_doit` checks those
values with the same converters. Either way a command receives one :class:`Invocation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from autoresearch.errors import ConfigError
from autoresearch.schema import SCHEMA, Invalid, did_you_mean, non_negative_int


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    kind: str = "text"  # text, int (a whole number >= 0) or flag
    default: Any = None
    short: str = ""
    convert: Callable[[Any], Any] | None = None  # text options: checked later, in context

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def value(self, raw: Any, typed: str | None = None) -> Any:
        """The checked value; ``typed`` is the flag as the user wrote it (-n or --iterations)."""
        flag = typed or self.flag
        if self.kind == "flag":
            return bool(raw)
        if self.kind == "int":
            try:
                return non_negative_int(raw)
            except Invalid as exc:
                problem = "must not be negative" if "at least" in str(exc) else str(exc)
                raise ConfigError(f"option {flag} = {raw!r} {problem}") from None
        return str(raw)  # checked where it is used (a tag, a duration, a query...)


@dataclass(frozen=True)
class Command:
    name: str
    doc: str
    options: tuple[Option, ...] = ()
    config_keys: bool = False  # every schema key is an option too
    positional: str | None = None  # the name of the positional arguments, if it takes any

    def all_options(self) -> tuple[Option, ...]:
        keys = tuple(Option(k.name, f"{k.help} [config key {k.name}]",
                            "flag" if k.name == "agent_skip_permissions" else "text")
                     for k in SCHEMA) if self.config_keys else ()
        return self.options + keys


@dataclass(frozen=True)
class Invocation:
    command: str
    options: dict[str, Any]  # the command's own options, defaults filled in
    flags: dict[str, Any] = field(default_factory=dict)  # config keys given (raw values)
    positionals: tuple[str, ...] = ()


TAG = Option("tag", "experiment tag; branch autoresearch/<tag> (default: the tag set up last "
                    "in this project, else today's, e.g. dec2)")

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("loop", "Run the experiment loop: propose, commit, measure, keep or reset, log; "
                    "forever or N times.", (
        TAG,
        Option("iterations", "stop after N experiments (default: never stop)", "int", 0, "n"),
        Option("max_time", "stop after this long, e.g. 8h or 30m"),
        Option("max_cost", "stop when the agents' total cost reaches this many USD"),
        Option("quiet", "print only errors and the final summary", "flag", False, "q"),
        Option("json", "print a machine-readable summary at the end", "flag", False),
        Option("jobs", "experiments at once, each in a worktree of its own (default 1, or one "
                       "per GPU with --gpus)", "int", 0, "j"),
        Option("gpus", "GPUs for the experiments, one each: e.g. 0,1,2,3 or all (nvidia-smi)"),
        Option("prefetch", "ask the agent for the next candidate while an experiment runs",
               "flag", False),
    ), config_keys=True),
    Command("setup", "Create the autoresearch/<tag> branch, results.tsv and logs; measure the "
                     "baseline.", (
        TAG,
        Option("resume", "continue an existing tag's branch", "flag", False),
        Option("calibrate", "measure the baseline N times to set the noise floor", "int", 0),
    ), config_keys=True),
    Command("results", "Summarise the experiments of a tag: table, formats, jmespath queries, "
                       "progress plot.", (
        TAG,
        Option("last", "show only the last N experiments", "int", 0),
        Option("status", "show only keep, discard or crash"),
        Option("format", "table, tsv, json or md", default="table"),
        Option("query", "a jmespath expression over the experiment_done records"),
        Option("plot", "write a progress plot to this PNG file (extra 'plot')"),
        Option("html", "write the dashboard as one self-contained HTML file (for CI artifacts)"),
    )),
    Command("dashboard", "Serve a live page of the project's loop: chart, experiments, diffs, "
                         "what runs now.", (
        TAG,
        Option("port", "the port to listen on (0: any free one)", "int", 8787),
        Option("host", "the address to listen on; beyond 127.0.0.1 a token is required",
               default="127.0.0.1"),
    )),
    Command("measure", "Measure commits (default HEAD); a commit measured before is not run "
                       "again.", config_keys=True, positional="commits"),
    Command("config", "Show the resolved config and where each value came from (recipe, "
                      "CLAUDE.md, flags).", config_keys=True),
    Command("detect", "Alias of config: show the detected project type and resolved config.",
            config_keys=True),
    Command("init", "Write a one-line dodo.py so 'doit loop', 'doit setup', 'doit results' "
                    "work here."),
    Command("finalize", "Squash a tag's kept experiments into branch autoresearch/<tag>-final, "
                        "ready for a PR.", (
        TAG,
        Option("verify", "measure each kept change again, reverted from the final tree; leave "
                         "out those that do not help beyond the noise floor", "flag", False),
        Option("split", "also write one branch per kept change, each one commit on the "
                        "starting point, for a pull request each", "flag", False),
    )),
    Command("demo", "Copy the built-in ML demo to a new git repo and run a bounded loop with "
                    "the tune agent.", (
        Option("iterations", "experiments to run", "int", 10, "n"),
        Option("dir", "where to create the demo project (default: a new temp dir)"),
        Option("dashboard", "serve the dashboard of the demo while it runs (its URL is "
                            "printed)", "flag", False),
    )),
)}
NAMES = tuple(COMMANDS)


def command(name: str) -> Command:
    if name not in COMMANDS:
        raise ConfigError(f"unknown command '{name}'; {did_you_mean(name, NAMES)}"
                          f"commands: {', '.join(NAMES)}")
    return COMMANDS[name]


def parse(name: str, argv: list[str]) -> Invocation:
    """The command line of ``autoresearch NAME ARGV...``; ConfigError names the first bad
    argument."""
    cmd = command(name)
    options = cmd.all_options()
    by_flag = {o.flag: o for o in options}
    by_flag.update({f"-{o.short}": o for o in options if o.short})
    given: dict[str, Any] = {}
    typed: dict[str, str] = {}
    positionals: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            positionals += argv[index:]
            break
        if not arg.startswith("-") or arg == "-":
            if cmd.positional is None:
                raise ConfigError(f"'{name}' takes no argument {arg!r}; options start with --")
            positionals.append(arg)
            continue
        flag, has_value, value = arg.partition("=")
        option = by_flag.get(flag)
        if option is None:
            raise ConfigError(f"unknown option '{flag}' for '{name}'; "
                              f"{did_you_mean(flag, list(by_flag))}"
                              f"see 'autoresearch {name} --help'")
        if option.kind == "flag":
            if has_value:
                raise ConfigError(f"option {flag} takes no value")
            given[option.name] = True
            typed[option.name] = flag
            continue
        if not has_value:
            if index >= len(argv):
                raise ConfigError(f"option {flag} needs a value")
            value = argv[index]
            index += 1
        given[option.name] = value
        typed[option.name] = flag
    return _invocation(cmd, given, positionals, typed)


def _invocation(cmd: Command, given: dict[str, Any], positionals: list[str],
                typed: dict[str, str]) -> Invocation:
    keys = {k.name for k in SCHEMA} if cmd.config_keys else set()
    own = {o.name: o for o in cmd.options}
    options = {o.name: o.default for o in cmd.options}
    flags: dict[str, Any] = {}
    for name, raw in given.items():
        if name in own:
            options[name] = own[name].value(raw, typed.get(name))
        elif name in keys:
            flags[name] = raw  # checked by config.resolve, which names the flag as origin
    return Invocation(cmd.name, options, flags, tuple(positionals))


def from_doit(name: str, values: dict[str, Any], positionals: list[str] | None) -> Invocation:
    """The invocation of ``doit NAME ...``: the options doit parsed, given back to
    :func:`parse` as ``--name=value``, then the positional arguments (doit stops parsing
    options at the first positional, so options after it arrive there)."""
    argv = []
    for option in command(name).all_options():
        value = values.get(option.name)
        if option.kind == "flag":
            argv += [option.flag] if value else []
        elif value is not None:
            argv.append(f"{option.flag}={value}")
    return parse(name, argv + list(positionals or []))


def doit_params(name: str) -> list[dict[str, Any]]:
    """doit's task params for NAME: every option as text (flags as booleans), so that this
    module's converters, not doit's, check the values."""
    params = []
    for option in command(name).all_options():
        param = {"name": option.name, "long": option.name.replace("_", "-"),
                 "type": bool if option.kind == "flag" else str,
                 "default": False if option.kind == "flag" else None,
                 "help": option.help.replace("%", "%%")}
        if option.short:
            param["short"] = option.short
        params.append(param)
    return params


def help_text(name: str) -> str:
    cmd = command(name)
    usage = f"usage: autoresearch {name} [options]" + (
        f" [{cmd.positional}...]" if cmd.positional else "")
    lines = [usage, "", cmd.doc, ""]
    for option in cmd.all_options():
        flag = option.flag + ("" if option.kind == "flag" else " VALUE")
        if option.short:
            flag = f"-{option.short}, {flag}"
        lines.append(f"  {flag.ljust(34)} {option.help}")
    return "\n".join(lines)


def usage() -> str:
    width = max(map(len, NAMES))
    listed = "\n".join(f"  {n.ljust(width)}  {COMMANDS[n].doc}" for n in NAMES)
    return (f"usage: autoresearch <command> [options]\n\ncommands:\n{listed}\n\n"
            "Every command that works on a project takes the config keys as options too (e.g. "
            "--time-budget 60, --agent tune);\n'autoresearch <command> --help' lists them. Exit "
            "codes are in README.md.\n")
