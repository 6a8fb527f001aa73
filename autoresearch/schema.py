"""Every configuration key, once: its type, default, check, help and what is accepted.

``Settings`` is the schema: each field is a key, declared with :func:`key` (the converter
that checks a raw value and turns it into the typed value, the default, the help line and
what is accepted). ``SCHEMA`` lists them in order; the README's config table, the
command-line options of every command and ``autoresearch config`` are generated from it.
The choice lists below are the only ones: other modules import them from here.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from autoresearch.search.hybrid import HYBRID_AGENTS, TUNE_SHARE
from autoresearch.search.nearmiss import POOL_SIZE
from autoresearch.search.plateau import PIVOT_AFTER
from autoresearch.search.screening import SCREEN_MARGIN

DIRECTIONS = ("lower_is_better", "higher_is_better")
METRIC_SOURCES = ("command", "regex", "lines", "json", "size", "time", "emitted")
SIZE_UNITS = ("B", "KB", "MB", "GB")
TIME_UNITS = ("s", "ms")
AGGREGATES = ("median", "min", "mean")
AGENT_NAMES = ("claude", "codex", "gemini", "aider", "opencode", "command", "tune")
AGENTS_ACCEPTED = ", ".join(AGENT_NAMES) + ", or one of the first six + tune (e.g. claude+tune)"
SANDBOX_LEVELS = ("strict", "basic")
RESULTS_COLUMNS = ("seed", "karpathy")
COMPRESSIONS = ("none", "gzip", "brotli")
COMPARISONS = ("single", "paired")


class Invalid(ValueError):
    """Raised by converters; the message says what would be accepted."""


# -- converters -----------------------------------------------------------------------------

_UNUSABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(raw: Any) -> str:
    if isinstance(raw, (dict, list)):
        raise Invalid("must be a single text value")
    value = str(raw).strip()
    if not value:
        raise Invalid("must not be empty")
    if _UNUSABLE.search(value):
        raise Invalid("contains a control character (a NUL byte or similar); remove it")
    return value


def paths(raw: Any) -> tuple[str, ...]:
    """A comma-separated string (the seed's syntax) or a YAML list of relative paths."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    found = tuple(Path(text(i)).as_posix().removeprefix("./") for i in items if str(i).strip())
    for path in found:
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise Invalid("must be paths inside the project (relative, without '..')")
    return found


def number(raw: Any, *, integer: bool = False, minimum: float | None = None,
           strictly_positive: bool = False) -> float | int:
    if isinstance(raw, bool):
        raise Invalid("must be a number")
    try:
        value = int(str(raw).strip()) if integer else float(str(raw).strip())
    except ValueError:
        raise Invalid("must be a whole number" if integer else "must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Invalid("must be a finite number")
    if strictly_positive and value <= 0:
        raise Invalid("must be greater than 0")
    if minimum is not None and value < minimum:
        raise Invalid(f"must be at least {minimum:g}")
    return value


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def duration(raw: Any) -> float:
    """Seconds from a number (``300``) or a duration (``90s``, ``5m``, ``1h30m``)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(number(raw, strictly_positive=True))
    value = str(raw).strip().lower()
    if re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?|[-+]?(inf|nan)", value):
        return float(number(value, strictly_positive=True))
    match = _DURATION.match(value)
    if not value or not match or not any(match.groups()):
        raise Invalid("must be seconds or a duration like 90s, 5m, 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise Invalid("must be greater than 0")
    return total


def did_you_mean(value: str, options: tuple[str, ...] | list[str]) -> str:
    hint = difflib.get_close_matches(value, list(options), n=1)
    return f"did you mean '{hint[0]}'? " if hint else ""


def choice(options: tuple[str, ...], accepted: str | None = None) -> Callable[[Any], str]:
    def convert(raw: Any) -> str:
        value = text(raw)
        if value not in options:
            raise Invalid(f"is not accepted; {did_you_mean(value, options)}"
                          f"accepted: {accepted or ', '.join(options)}")
        return value
    return convert


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise Invalid("must be true or false")


@dataclass(frozen=True)
class MinDelta:
    """The smallest improvement that counts: absolute, or a fraction of |best| ("0.5%")."""

    amount: float
    relative: bool = False
    raw: str = "0"

    def __str__(self) -> str:
        return self.raw

    def margin(self, best: float) -> float:
        return self.amount * abs(best) if self.relative else self.amount


def min_delta(raw: Any) -> MinDelta:
    if isinstance(raw, MinDelta):
        return raw
    value = str(raw).strip()
    relative = value.endswith("%")
    try:
        amount = float(number(value[:-1] if relative else value, minimum=0))
    except Invalid:
        raise Invalid("must be a number >= 0, optionally with % (e.g. 0.01 or 0.5%)") from None
    return MinDelta(amount / 100 if relative else amount, relative, value)


margin = min_delta  # the same value type, under a name no Settings field shadows


def arguments(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(text(a) for a in raw)
    try:
        return tuple(shlex.split(text(raw)))
    except ValueError as exc:
        raise Invalid(f"is not a valid argument list ({exc})") from None


def globs(raw: Any) -> tuple[str, ...]:
    """Comma-separated globs or a YAML list; ``none`` for no pattern at all."""
    if not isinstance(raw, list) and str(raw).strip().lower() == "none":
        return ()
    items = raw if isinstance(raw, list) else str(raw).split(",")
    found = tuple(text(i).removeprefix("./") for i in items if str(i).strip())
    for pattern in found:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise Invalid("must be globs relative to the project (no leading / or '..')")
    return found


def holdout_paths(raw: Any) -> tuple[str, ...]:
    """Like ``paths``, but a holdout may also live outside the project (an absolute path)."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    found = []
    for item in (text(i) for i in items if str(i).strip()):
        if not Path(item).is_absolute() and ".." in Path(item).parts:
            raise Invalid("must be paths inside the project (relative, without '..') or "
                          "absolute paths")
        found.append(item if Path(item).is_absolute()
                     else Path(item).as_posix().removeprefix("./"))
    return tuple(found)


def resources(raw: Any) -> dict[str, float]:
    """A mapping of resource names to amounts: YAML's {GPU: 1}, or that text (JSON too)."""
    if isinstance(raw, str):
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            raw = YAML(typ="safe").load(raw)
        except YAMLError:
            raw = None
    if not isinstance(raw, dict) or not raw:
        raise Invalid("must be a mapping of resource names to amounts, e.g. {GPU: 1, CPU: 4}")
    return {str(name): float(number(amount, minimum=0)) for name, amount in raw.items()}


def url(raw: Any) -> str:
    value = text(raw)
    if not re.match(r"https?://[^\s/]+", value):
        raise Invalid("must be an http:// or https:// URL")
    return value


def positive_int(raw: Any) -> int:
    return int(number(raw, integer=True, minimum=1))


def non_negative_int(raw: Any) -> int:
    return int(number(raw, integer=True, minimum=0))


def non_negative(raw: Any) -> float:
    return float(number(raw, minimum=0))


def share(raw: Any) -> float:
    value = float(number(raw, minimum=0))
    if value > 1:
        raise Invalid("must be a number from 0 to 1")
    return value


# -- the schema -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    name: str
    convert: Callable[[Any], Any]
    default: Any
    help: str
    accepted: str
    seed: bool = False  # one of the seed's seven keys

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def key(convert: Callable[[Any], Any], default: Any, help: str, accepted: str, *,
        seed: bool = False) -> Any:
    """A Settings field: its default and what the schema knows about it."""
    return field(default=default, metadata={"convert": convert, "help": help,
                                            "accepted": accepted, "seed": seed})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The value of every key (typed); ``config.Config`` adds where each came from."""

    target_file: tuple[str, ...] = key(
        paths, (), "The file(s) the agent may modify (comma-separated).",
        "a path inside the project", seed=True)
    run_command: str | None = key(
        text, None, "Command that runs one experiment (through the shell).", "a shell command",
        seed=True)
    metric_name: str | None = key(text, None, "Name of the metric to track.", "a name",
                                  seed=True)
    metric_parse: str | None = key(
        text, None, "Shell command printing the metric (last number wins); run after the "
        "experiment with run.log present.", "a shell command", seed=True)
    metric_direction: str = key(
        choice(DIRECTIONS), "lower_is_better", "Whether lower or higher is better.",
        " or ".join(DIRECTIONS), seed=True)
    time_budget: float = key(duration, 300.0, "Expected seconds per experiment.",
                             "seconds or 90s/5m/1h", seed=True)
    readonly_files: tuple[str, ...] = key(
        paths, (), "Files that must never change (comma-separated).",
        "paths inside the project", seed=True)
    type: str | None = key(text, None, "Project type (a recipe name); detected when unset.",
                           "a recipe name")
    metric_source: str | None = key(
        choice(METRIC_SOURCES), None,
        "How to read the metric: command (metric_parse), regex, lines (METRIC name=value), "
        "json (metric_file + metric_jmespath), size (metric_file), time (wall time), "
        "emitted (size of the files under metric_file that the run wrote: not tracked by git).",
        ", ".join(METRIC_SOURCES))
    metric_regex: str | None = key(text, None, "Regex with one group over the run output.",
                                   "a regex")
    metric_file: str | None = key(
        text, None,
        "JSON file (source json) or file/glob list whose total size is the metric (source "
        "size or emitted).", "a path or comma-separated globs")
    metric_jmespath: str | None = key(
        text, None, "jmespath expression into metric_file (source json).",
        "a jmespath expression")
    metric_unit: str | None = key(
        choice(SIZE_UNITS + TIME_UNITS), None,
        "Unit of a size metric (B, KB, MB, GB) or the label of a time metric (s, ms).",
        "B, KB, MB, GB for size; s, ms for time")
    evaluation_files: tuple[str, ...] = key(
        paths, (), "Files the metric depends on; protected like readonly.",
        "paths inside the project")
    timeout: float | None = key(
        duration, None, "Kill a run after this long (default 2 x time_budget).",
        "seconds or 90s/5m/1h")
    min_delta: MinDelta = key(
        min_delta, MinDelta(0.0), "Smallest improvement that counts (absolute, or '0.5%').",
        "a number >= 0, optionally with %")
    repeats: int = key(positive_int, 1,
                       "Runs per experiment; the decision uses their aggregate.",
                       "a whole number >= 1")
    aggregate: str = key(choice(AGGREGATES), "median", "How repeats are combined.",
                         ", ".join(AGGREGATES))
    check_command: str | None = key(
        text, None, "Command that must pass before a keep (e.g. the project's tests).",
        "a shell command")
    runner: str | None = key(
        text, None,
        "Where experiments run: ray or slurm (a job each, cancelled on the cluster), or a "
        "command prefix (e.g. 'sky exec mycluster --'); unset: this machine. See "
        "docs/cluster.md.", "local, ray, slurm or a command prefix")
    agent: str = key(choice(AGENT_NAMES + HYBRID_AGENTS, AGENTS_ACCEPTED), "claude",
                     "Which agent proposes changes.", AGENTS_ACCEPTED)
    agent_model: str | None = key(text, None, "Model name passed to the agent.", "a model name")
    agent_args: tuple[str, ...] = key(arguments, (), "Extra arguments for the agent CLI.",
                                      "shell-style arguments")
    agent_timeout: float = key(duration, 900.0, "Kill the agent after this long.",
                               "seconds or 90s/5m/1h")
    agent_max_turns: int = key(positive_int, 30, "Turn limit per agent call (claude).",
                               "a whole number >= 1")
    agent_budget_usd: float | None = key(non_negative, None,
                                         "Spending cap per agent call (claude).",
                                         "a number >= 0")
    agent_command: str | None = key(
        text, None,
        "For agent 'command': the command line ({prompt_file} or stdin gets the prompt).",
        "a shell command")
    agent_skip_permissions: bool = key(
        boolean, False, "Pass the agent's skip-permissions flag (off: least privilege).",
        "true or false")
    agent_seed: int = key(non_negative_int, 0, "Seed for the tune agent.",
                          "a whole number >= 0")
    agent_max_failures: int = key(
        positive_int, 5,
        "Stop after this many agent failures in a row (no change and duplicates count too).",
        "a whole number >= 1")
    instructions: str | None = key(
        text, None, "Extra instructions for the agent (program.md is used when present).",
        "text")
    pivot_after: int = key(
        positive_int, PIVOT_AFTER,
        "After this many experiments in a row without a keep, ask for a different direction.",
        "a whole number >= 1")
    stop_after_plateau: int | None = key(
        positive_int, None,
        "Stop (exit 0, reason plateau) after this many experiments in a row without a keep.",
        "a whole number >= 1")
    near_miss: MinDelta | None = key(
        margin, None,
        "How much worse than the best a discard may be to count as a near-miss "
        "(default: twice the noise floor, else 0.5%).", "a number >= 0, optionally with %")
    near_miss_pool: int = key(
        non_negative_int, POOL_SIZE,
        "How many near-misses are kept to branch from or combine at a pivot (0: none).",
        "a whole number >= 0")
    tune_share: float = key(
        share, TUNE_SHARE, "With agent X+tune: the fraction of proposals the tuner makes.",
        "a number from 0 to 1")
    screen_command: str | None = key(
        text, None,
        "A cheaper run (fewer steps, a subset) that screens each candidate before the full "
        "run.", "a shell command")
    screen_margin: MinDelta = key(
        margin, margin(SCREEN_MARGIN),
        "How much worse than the best's screened metric a candidate's may be to get the full "
        "run.", "a number >= 0, optionally with %")
    sandbox: str | None = key(
        choice(SANDBOX_LEVELS), None,
        "How the agent is sealed: strict (bubblewrap: only its copy of the project writable) "
        "or basic (a copy and a process-group kill); default strict where bubblewrap works.",
        ", ".join(SANDBOX_LEVELS))
    sandbox_run: str = key(
        choice(SANDBOX_LEVELS), "basic",
        "How the experiment run is sealed: basic (its own worktree) or strict (also under "
        "bubblewrap: the repository and the tool's state unreachable).",
        ", ".join(SANDBOX_LEVELS))
    run_files: tuple[str, ...] = key(
        paths, (),
        "Ignored files or directories the run needs (data, virtual environments), linked into "
        "the tool's worktree; node_modules and .venv are linked for known project types.",
        "paths inside the project")
    work_dir: str | None = key(
        text, None, "Where the tool's worktrees live (a shared filesystem for a cluster).",
        "a directory")
    max_consecutive_crashes: int = key(
        positive_int, 10, "Stop the loop (exit 7) after this many crashed experiments in a row.",
        "a whole number >= 1")
    results_columns: str = key(
        choice(RESULTS_COLUMNS), "seed",
        "Columns of results.tsv: seed (commit metric value status description) or karpathy "
        "(commit <metric> memory_gb status description).", ", ".join(RESULTS_COLUMNS))
    metric_exclude: tuple[str, ...] = key(
        globs, ("*.map", "*.d.ts", "*.d.mts", "*.d.cts"),
        "Files a size or emitted metric never counts (a pattern without / matches the name "
        "at any depth).", "comma-separated globs, or none")
    size_compression: str = key(
        choice(COMPRESSIONS), "none",
        "How each file is compressed before a size or emitted metric adds it up (gzip: level "
        "9, as size-limit and bundlewatch report; brotli needs the brotli extra).",
        ", ".join(COMPRESSIONS))
    required_outputs: tuple[str, ...] = key(
        globs, (),
        "Outputs (content hashes removed) that a candidate must still emit when the best run "
        "did; one missing makes the run a crash.", "comma-separated globs, or none")
    ray_address: str | None = key(
        text, None,
        "The Ray cluster's dashboard for runner ray (default: RAY_ADDRESS, else the local "
        "cluster).", "an address like http://head:8265")
    ray_resources: dict | None = key(
        resources, None,
        "What each experiment's Ray job reserves (without it, jobs run on the head node).",
        "a mapping like {GPU: 1, CPU: 4} (CPU, GPU, memory in bytes, custom resources)")
    slurm_args: tuple[str, ...] = key(
        arguments, (), "sbatch options for runner slurm (e.g. '--gres=gpu:1 --time=15').",
        "shell-style arguments")
    queue_timeout: float | None = key(
        duration, None,
        "How long a cluster job may wait to start before it counts as timed out (default: "
        "timeout).", "seconds or 90s/5m/1h")
    fetch_files: tuple[str, ...] = key(
        paths, (), "Files a Ray job sends back besides metric_file (e.g. what metric_parse "
        "reads).", "paths or globs inside the project")
    on_keep: str | None = key(
        text, None, "Shell command run after each keep, with the experiment in "
        "AUTORESEARCH_* variables (see Watching a loop).", "a shell command")
    on_crash: str | None = key(
        text, None, "Shell command run after each crash (AUTORESEARCH_* variables).",
        "a shell command")
    on_plateau: str | None = key(
        text, None, "Shell command run when a plateau begins: pivot_after experiments in a row without "
        "a keep (AUTORESEARCH_* variables).", "a shell command")
    on_stop: str | None = key(
        text, None, "Shell command run when the loop ends: best commit, value, change and why "
        "it stopped (AUTORESEARCH_* variables).", "a shell command")
    notify: str | None = key(
        url, None, "Webhook that gets a POST of {\"text\": ...} on each keep and at the end "
        "(Slack, Discord).", "an http:// or https:// URL")
    holdout_command: str | None = key(
        text, None,
        "Command printing the sealed holdout metric (last number wins); run on candidates "
        "the main metric would keep, never shown to the agent.", "a shell command")
    holdout_direction: str | None = key(
        choice(DIRECTIONS), None,
        "Whether lower or higher holdout values are better (default: metric_direction).",
        " or ".join(DIRECTIONS))
    holdout_files: tuple[str, ...] = key(
        holdout_paths, (),
        "Files or directories only the holdout needs; removed from the agent's copy and the "
        "run's tree.", "paths inside the project or absolute paths")
    holdout_every: int = key(
        positive_int, 1, "Run the holdout on every N-th candidate the main metric would keep.",
        "a whole number >= 1")
    holdout_tolerance: float | None = key(
        non_negative, None,
        "How much worse than the best's holdout a keep's may be (default: the calibrated "
        "noise floor, else 0).", "a number >= 0")
    remeasure_every: int = key(
        non_negative_int, 0,
        "Re-run the best every N experiments and pool its samples (0: never).",
        "a whole number >= 0")
    compare: str = key(
        choice(COMPARISONS), "single",
        "single: the candidate's repeats against the best's value; paired: candidate and best "
        "run in turns, up to repeats pairs, until a sequential test decides.",
        ", ".join(COMPARISONS))


SCHEMA: tuple[Key, ...] = tuple(
    Key(f.name, f.metadata["convert"], f.default if f.default is not MISSING else None,
        f.metadata["help"], f.metadata["accepted"], f.metadata["seed"])
    for f in fields(Settings))
KEYS: dict[str, Key] = {k.name: k for k in SCHEMA}


def suggest(name: str) -> str:
    return did_you_mean(name, list(KEYS))
