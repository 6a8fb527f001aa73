"""One resolved configuration, with the origin of every value.

Sources, later wins: built-in defaults; the detected recipe; the ``## autoresearch``
section of CLAUDE.md; ``autoresearch.yaml``; command-line options. Every key is declared
once in ``SCHEMA`` (its type, default and meaning); the README's config table is this list.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from autoresearch import claude_md, recipes as recipes_mod
from autoresearch.errors import ConfigError
from autoresearch.search.hybrid import HYBRID_AGENTS, TUNE_SHARE
from autoresearch.search.nearmiss import POOL_SIZE
from autoresearch.search.plateau import PIVOT_AFTER
from autoresearch.search.screening import SCREEN_MARGIN
from autoresearch.yamlio import load_yaml_mapping

CONFIG_FILE = "autoresearch.yaml"
CLAUDE_FILE = "CLAUDE.md"
DIRECTIONS = ("lower_is_better", "higher_is_better")
METRIC_SOURCES = ("command", "regex", "lines", "json", "size", "time")
METRIC_UNITS = ("B", "KB", "MB", "GB", "s", "ms")
AGGREGATES = ("median", "min", "mean")
AGENT_NAMES = ("claude", "codex", "gemini", "aider", "opencode", "command", "tune")
AGENTS_ACCEPTED = ", ".join(AGENT_NAMES) + ", or one of the first six + tune (e.g. claude+tune)"


class Invalid(ValueError):
    """Raised by converters; the message says what would be accepted."""


def _text(raw: Any) -> str:
    if isinstance(raw, (dict, list)):
        raise Invalid("must be a single text value")
    text = str(raw).strip()
    if not text:
        raise Invalid("must not be empty")
    return text


def _paths(raw: Any) -> tuple[str, ...]:
    """A comma-separated string (the seed's syntax) or a YAML list of relative paths."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    paths = tuple(Path(str(i).strip()).as_posix().removeprefix("./") for i in items if str(i).strip())
    for path in paths:
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise Invalid("must be paths inside the project (relative, without '..')")
    return paths


def _number(raw: Any, *, integer: bool = False, minimum: float | None = None,
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


DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(raw: Any) -> float:
    """Seconds from a number (``300``) or a duration (``90s``, ``5m``, ``1h30m``)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(_number(raw, strictly_positive=True))
    text = str(raw).strip().lower()
    if re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?|[-+]?(inf|nan)", text):
        return float(_number(text, strictly_positive=True))
    match = DURATION.match(text)
    if not text or not match or not any(match.groups()):
        raise Invalid("must be seconds or a duration like 90s, 5m, 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise Invalid("must be greater than 0")
    return total


def _choice(options: tuple[str, ...], accepted: str | None = None) -> Callable[[Any], str]:
    def convert(raw: Any) -> str:
        value = _text(raw)
        if value not in options:
            hint = difflib.get_close_matches(value, options, n=1)
            suggestion = f"did you mean '{hint[0]}'? " if hint else ""
            raise Invalid(f"is not accepted; {suggestion}accepted: "
                          f"{accepted or ', '.join(options)}")
        return value
    return convert


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise Invalid("must be true or false")


def _min_delta(raw: Any) -> str:
    text = str(raw).strip()
    number = text[:-1] if text.endswith("%") else text
    try:
        _number(number, minimum=0)
    except Invalid:
        raise Invalid("must be a number >= 0, optionally with % (e.g. 0.01 or 0.5%)") from None
    return text


def _args(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(str(a) for a in raw)
    try:
        return tuple(shlex.split(str(raw)))
    except ValueError as exc:
        raise Invalid(f"is not a valid argument list ({exc})") from None


@dataclass(frozen=True)
class Key:
    name: str
    convert: Callable[[Any], Any]
    default: Any
    help: str
    accepted: str
    seed: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _positive_int(raw: Any) -> int:
    return int(_number(raw, integer=True, minimum=1))


def _non_negative(raw: Any) -> float:
    return float(_number(raw, minimum=0))


def _share(raw: Any) -> float:
    value = float(_number(raw, minimum=0))
    if value > 1:
        raise Invalid("must be a number from 0 to 1")
    return value


SCHEMA: tuple[Key, ...] = (
    Key("target_file", _paths, None, "The file(s) the agent may modify (comma-separated).",
        "a path inside the project", seed=True),
    Key("run_command", _text, None, "Command that runs one experiment (through the shell).",
        "a shell command", seed=True),
    Key("metric_name", _text, None, "Name of the metric to track.", "a name", seed=True),
    Key("metric_parse", _text, None,
        "Shell command printing the metric (last number wins); run after the experiment "
        "with run.log present.", "a shell command", seed=True),
    Key("metric_direction", _choice(DIRECTIONS), "lower_is_better",
        "Whether lower or higher is better.", " or ".join(DIRECTIONS), seed=True),
    Key("time_budget", parse_duration, 300.0, "Expected seconds per experiment.",
        "seconds or 90s/5m/1h", seed=True),
    Key("readonly_files", _paths, (), "Files that must never change (comma-separated).",
        "paths inside the project", seed=True),
    Key("type", _text, None, "Project type (a recipe name); detected when unset.",
        "a recipe name"),
    Key("metric_source", _choice(METRIC_SOURCES), None,
        "How to read the metric: command (metric_parse), regex, lines (METRIC name=value), "
        "json (metric_file + metric_jmespath), size (metric_file), time (wall time).",
        ", ".join(METRIC_SOURCES)),
    Key("metric_regex", _text, None, "Regex with one group over the run output.", "a regex"),
    Key("metric_file", _text, None,
        "JSON file (source json) or file/glob list whose total size is the metric (source size).",
        "a path or comma-separated globs"),
    Key("metric_jmespath", _text, None, "jmespath expression into metric_file (source json).",
        "a jmespath expression"),
    Key("metric_unit", _choice(METRIC_UNITS), None, "Unit for size/time metrics.",
        ", ".join(METRIC_UNITS)),
    Key("evaluation_files", _paths, (), "Files the metric depends on; protected like readonly.",
        "paths inside the project"),
    Key("timeout", parse_duration, None, "Kill a run after this long (default 2 x time_budget).",
        "seconds or 90s/5m/1h"),
    Key("min_delta", _min_delta, "0", "Smallest improvement that counts (absolute, or '0.5%').",
        "a number >= 0, optionally with %"),
    Key("repeats", _positive_int, 1, "Runs per experiment; the decision uses their aggregate.",
        "a whole number >= 1"),
    Key("aggregate", _choice(AGGREGATES), "median", "How repeats are combined.",
        ", ".join(AGGREGATES)),
    Key("check_command", _text, None,
        "Command that must pass before a keep (e.g. the project's tests).", "a shell command"),
    Key("runner", _text, None,
        "Prefix that runs the experiment elsewhere (e.g. 'srun --gres=gpu:1 --').",
        "a command prefix"),
    Key("agent", _choice(AGENT_NAMES + HYBRID_AGENTS, AGENTS_ACCEPTED), "claude",
        "Which agent proposes changes.", AGENTS_ACCEPTED),
    Key("agent_model", _text, None, "Model name passed to the agent.", "a model name"),
    Key("agent_args", _args, (), "Extra arguments for the agent CLI.", "shell-style arguments"),
    Key("agent_timeout", parse_duration, 900.0, "Kill the agent after this long.",
        "seconds or 90s/5m/1h"),
    Key("agent_max_turns", _positive_int, 30, "Turn limit per agent call (claude).",
        "a whole number >= 1"),
    Key("agent_budget_usd", _non_negative, None, "Spending cap per agent call (claude).",
        "a number >= 0"),
    Key("agent_command", _text, None,
        "For agent 'command': the command line ({prompt_file} or stdin gets the prompt).",
        "a shell command"),
    Key("agent_skip_permissions", _bool, False,
        "Pass the agent's skip-permissions flag (off: least privilege).", "true or false"),
    Key("agent_seed", lambda raw: int(_number(raw, integer=True, minimum=0)), 0,
        "Seed for the tune agent.", "a whole number >= 0"),
    Key("agent_max_failures", _positive_int, 5,
        "Stop after this many agent failures in a row.", "a whole number >= 1"),
    Key("instructions", _text, None,
        "Extra instructions for the agent (program.md is used when present).", "text"),
    Key("pivot_after", _positive_int, PIVOT_AFTER,
        "After this many experiments in a row without a keep, ask for a different direction.",
        "a whole number >= 1"),
    Key("stop_after_plateau", _positive_int, None,
        "Stop (exit 0, reason plateau) after this many experiments in a row without a keep.",
        "a whole number >= 1"),
    Key("near_miss", _min_delta, None,
        "How much worse than the best a discard may be to count as a near-miss "
        "(default: twice the noise floor, else 0.5%).", "a number >= 0, optionally with %"),
    Key("near_miss_pool", lambda raw: int(_number(raw, integer=True, minimum=0)), POOL_SIZE,
        "How many near-misses are kept to branch from or combine at a pivot (0: none).",
        "a whole number >= 0"),
    Key("tune_share", _share, TUNE_SHARE,
        "With agent X+tune: the fraction of proposals the tuner makes.", "a number from 0 to 1"),
    Key("screen_command", _text, None,
        "A cheaper run (fewer steps, a subset) that screens each candidate before the full run.",
        "a shell command"),
    Key("screen_margin", _min_delta, SCREEN_MARGIN,
        "How much worse than the best's screened metric a candidate's may be to get the full run.",
        "a number >= 0, optionally with %"),
)
KEYS: dict[str, Key] = {k.name: k for k in SCHEMA}
RECIPE_METRIC_KEYS = {"name": "metric_name", "source": "metric_source", "regex": "metric_regex",
                      "command": "metric_parse", "file": "metric_file",
                      "jmespath": "metric_jmespath", "unit": "metric_unit"}
# Setting one of these in your own config chooses its metric source over the recipe's.
SOURCE_OF_KEY = {"metric_parse": "command", "metric_regex": "regex", "metric_jmespath": "json"}


@dataclass(frozen=True)
class Setting:
    raw: Any
    origin: str  # "CLAUDE.md:12", "autoresearch.yaml:3", "--time-budget", "recipe ml (...)"


@dataclass(frozen=True)
class Config:
    project_dir: Path
    project_type: str
    recipe_source: str
    values: Mapping[str, Any]
    origins: Mapping[str, str]
    matched: tuple[str, ...] = field(default=())

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.values["target_file"]

    @property
    def protected_files(self) -> tuple[str, ...]:
        """Readonly and evaluation files: their content must never change."""
        return tuple(dict.fromkeys(self.readonly_files + self.evaluation_files))

    def run_definition(self) -> dict[str, Any]:
        """What makes two measurements comparable: same command, metric, repeats, protections."""
        keys = ("run_command", "runner", "metric_name", "metric_source", "metric_parse",
                "metric_regex", "metric_file", "metric_jmespath", "metric_unit", "repeats",
                "aggregate", "timeout", "readonly_files", "evaluation_files")
        return {k: self.values[k] for k in keys}

    def run_definition_hash(self) -> str:
        text = json.dumps(self.run_definition(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def suggest(name: str) -> str:
    hint = difflib.get_close_matches(name, list(KEYS), n=1, cutoff=0.6)
    return f"did you mean '{hint[0]}'? " if hint else ""


def claude_md_layer(project: Path) -> dict[str, Setting]:
    path = project / CLAUDE_FILE
    entries = claude_md.read_section(path) or []
    layer = {}
    for entry in entries:
        _check_known(entry.key, f"{path}:{entry.line}")
        layer[entry.key] = Setting(entry.value, f"{CLAUDE_FILE}:{entry.line}")
    return layer


def yaml_layer(project: Path) -> dict[str, Setting]:
    path = project / CONFIG_FILE
    if not path.is_file():
        return {}
    data, lines = load_yaml_mapping(path)
    layer = {}
    for key, raw in data.items():
        _check_known(key, f"{path}:{lines[key]}")
        if raw is None:
            raise ConfigError(f"{path}:{lines[key]}: {key} has no value; "
                              f"accepted: {KEYS[key].accepted}")
        layer[key] = Setting(raw, f"{CONFIG_FILE}:{lines[key]}")
    return layer


def flag_layer(flags: Mapping[str, Any]) -> dict[str, Setting]:
    layer = {}
    for key, raw in flags.items():
        if raw is None:
            continue
        _check_known(key, "command line")
        layer[key] = Setting(raw, KEYS[key].flag)
    return layer


def _check_known(key: str, where: str) -> None:
    if key not in KEYS:
        raise ConfigError(f"{where}: unknown key '{key}'; {suggest(key)}"
                          "see the config reference in README.md")


def _is_complete(settings: Mapping[str, Setting]) -> bool:
    has_reader = any(k in settings for k in ("metric_parse", "metric_source", "metric_regex"))
    return all(k in settings for k in ("target_file", "run_command", "metric_name")) and has_reader


def resolve(project: Path, flags: Mapping[str, Any] | None = None) -> Config:
    """The project's configuration: recipe + CLAUDE.md + autoresearch.yaml + flags, validated."""
    project = project.resolve()
    layers = [claude_md_layer(project), yaml_layer(project), flag_layer(flags or {})]
    user: dict[str, Setting] = {}
    for layer in layers:
        user.update(layer)
    recipe, matched = _choose_recipe(project, user)
    settings = {k.name: Setting(k.default, "default") for k in SCHEMA}
    settings.update(_recipe_layer(recipe, project))
    settings.update(user)
    for key, source in SOURCE_OF_KEY.items():
        if key in user and "metric_source" not in user:
            settings["metric_source"] = Setting(source, user[key].origin)
    values = {name: _convert(name, setting, project) for name, setting in settings.items()}
    origins = {name: setting.origin for name, setting in settings.items()}
    _derive(values, origins, recipe)
    config = Config(project, recipe.name, str(recipe.source), values, origins,
                    tuple(r.name for r in matched))
    _check(config)
    return config


def _choose_recipe(project: Path, user: Mapping[str, Setting]):
    available = recipes_mod.load_all()
    matched = recipes_mod.detect(available, project, _is_complete(user))
    if "type" in user:
        name = str(user["type"].raw).strip()
        if name not in available:
            hint = difflib.get_close_matches(name, list(available), n=1)
            suggestion = f"did you mean '{hint[0]}'? " if hint else ""
            raise ConfigError(f"{_where(user['type'].origin, project)}: type '{name}' is not a "
                              "known project type; "
                              f"{suggestion}accepted: {', '.join(sorted(available))}")
        return available[name], matched
    if not matched:
        raise ConfigError(
            f"{project}: no project type detected (no train.py+prepare.py, package.json, "
            "pubspec.yaml, pom.xml or build.gradle); add to CLAUDE.md: '## autoresearch' "
            "'- target_file: main.py' '- run_command: python main.py' '- metric_name: score' "
            "'- metric_parse: grep score: run.log | tail -1' '- metric_direction: higher_is_better'"
        )
    return matched[0], matched


def _recipe_layer(recipe: recipes_mod.Recipe, project: Path) -> dict[str, Setting]:
    origin = f"recipe {recipe.name} ({recipe.source.name})"
    layer: dict[str, Setting] = {}

    def put(key: str, raw: Any) -> None:
        if raw not in (None, "", (), []):
            layer[key] = Setting(raw, origin)

    put("target_file", recipe.find_target(project))
    put("run_command", recipe.run_command_for(project))
    for recipe_key, key in RECIPE_METRIC_KEYS.items():
        put(key, recipe.metric.get(recipe_key))
    put("metric_file", recipe.metric_file_for(project))
    put("metric_direction", recipe.direction)
    put("readonly_files", list(recipe.readonly_files))
    put("evaluation_files", list(recipe.evaluation_files))
    return layer


def _convert(name: str, setting: Setting, project: Path) -> Any:
    if setting.raw is None or setting.origin == "default":
        return setting.raw
    try:
        return KEYS[name].convert(setting.raw)
    except Invalid as exc:
        raise ConfigError(f"{_where(setting.origin, project)}: {name} = {str(setting.raw)!r} "
                          f"{exc}") from None


def _where(origin: str, project: Path) -> str:
    if origin.startswith((CLAUDE_FILE, CONFIG_FILE)):
        return str(project / origin)
    return origin


def _derive(values: dict[str, Any], origins: dict[str, str], recipe) -> None:
    if values["timeout"] is None:
        values["timeout"] = 2 * values["time_budget"]
        origins["timeout"] = "2 x time_budget"
    if values["metric_source"] is None:
        values["metric_source"] = "command" if values["metric_parse"] else "regex"
        origins["metric_source"] = "default"
    if values["metric_unit"] is None and values["metric_source"] == "size":
        values["metric_unit"] = "KB"
        origins["metric_unit"] = "default"


def _check(config: Config) -> None:
    """Contradictions and missing pieces that no single value shows."""
    origin = config.origins
    project = config.project_dir
    where = lambda key: _where(origin[key], project)  # noqa: E731
    if not config.values["target_file"]:
        raise ConfigError(f"{project}: no target file found for project type "
                          f"'{config.project_type}'; set target_file in CLAUDE.md or "
                          f"{CONFIG_FILE}, or pass --target-file")
    if not config.run_command:
        raise ConfigError(f"{project}: no run_command for project type '{config.project_type}'; "
                          f"set run_command in CLAUDE.md or {CONFIG_FILE}")
    if not config.metric_name:
        raise ConfigError(f"{project}: no metric_name; set metric_name in CLAUDE.md or "
                          f"{CONFIG_FILE}")
    for target in config.targets:
        if not (project / target).is_file():
            raise ConfigError(f"{where('target_file')}: target_file '{target}' does not exist "
                              f"in {project}; name an existing file")
        if target in config.protected_files:
            key = "readonly_files" if target in config.readonly_files else "evaluation_files"
            raise ConfigError(f"{where(key)}: '{target}' is both the target_file and in {key}; "
                              "the agent's file cannot be read-only")
    needs = {"command": "metric_parse", "json": "metric_file", "size": "metric_file"}
    needed = needs.get(config.metric_source)
    if needed and not config.values[needed]:
        raise ConfigError(f"{where('metric_source')}: metric_source '{config.metric_source}' "
                          f"needs {needed}; set it in CLAUDE.md or {CONFIG_FILE}")
    if config.metric_source == "json" and not config.metric_jmespath:
        raise ConfigError(f"{where('metric_source')}: metric_source 'json' needs metric_jmespath")
    if config.agent == "command" and not config.agent_command:
        raise ConfigError(f"{where('agent')}: agent 'command' needs agent_command "
                          "(the command line to run)")
    if config.timeout < config.time_budget:
        raise ConfigError(f"{where('timeout')}: timeout ({config.timeout:g} s) is shorter than "
                          f"time_budget ({config.time_budget:g} s); raise it or leave it unset")
    from autoresearch.decide import parse_min_delta
    parse_min_delta(config.min_delta)
    from autoresearch.metrics import validate
    try:
        validate(metric_spec(config))
    except ConfigError as exc:  # "metric_regex: ..." -> "FILE:LINE: metric_regex: ..."
        key = exc.message.split(":", 1)[0]
        if origin.get(key, "default") == "default":
            raise
        raise ConfigError(f"{where(key)}: {exc.message}") from None


def metric_spec(config: Config):
    from autoresearch.metrics import MetricSpec

    return MetricSpec(
        name=config.metric_name,
        source=config.metric_source,
        command=config.metric_parse,
        regex=config.metric_regex,
        file=config.metric_file,
        jmespath=config.metric_jmespath,
        # Only a size is converted; a time is read in seconds and its unit only labels it.
        unit=config.metric_unit if config.metric_source == "size" else None,
    )


def describe(config: Config) -> str:
    """``key = value  (origin)`` lines, like ``git config --show-origin``."""
    header = [f"# project: {config.project_dir}",
              f"# type: {config.project_type} ({config.recipe_source})"
              + (f"; matched: {', '.join(config.matched)}" if len(config.matched) > 1 else "")]
    width = max(len(k.name) for k in SCHEMA)
    lines = []
    for key in SCHEMA:
        if key.name == "type":
            continue
        value = config.values[key.name]
        shown = ", ".join(value) if isinstance(value, tuple) else ("" if value is None else value)
        if isinstance(shown, float) and shown.is_integer():
            shown = int(shown)
        lines.append(f"{key.name.ljust(width)} = {shown}  ({config.origins[key.name]})")
    return "\n".join(header + lines)
