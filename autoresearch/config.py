"""One resolved configuration, with the origin of every value.

Sources, later wins: built-in defaults; the detected recipe; the ``## autoresearch``
section of CLAUDE.md; ``autoresearch.yaml``; command-line options. Every key is declared
once in ``SCHEMA`` (its type, default and meaning); the README's config table is this list.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from autoresearch import claude_md, compression, project_files, recipes as recipes_mod, sandbox
from autoresearch.errors import ConfigError
from autoresearch.state import USER_FILES
from autoresearch.schema import (KEYS, SCHEMA, SIZE_UNITS, TIME_UNITS, Invalid, Settings, duration,
                                 suggest)
from autoresearch.yamlio import load_yaml_mapping

CONFIG_FILE = "autoresearch.yaml"
CLAUDE_FILE = "CLAUDE.md"
SANDBOX_ENV = "AUTORESEARCH_SANDBOX"  # the default sandbox level of this machine
# The tool's own files in a project: never a target (patterns match in subdirectories too).
TOOL_FILES = tuple(p for p in USER_FILES if not p.endswith("/"))
TOOL_DIRS = tuple(p for p in (*USER_FILES, ".autoresearch/") if p.endswith("/"))
# Kept importable from here: the schema module owns them.
__all__ = ["Config", "ConfigError", "Invalid", "KEYS", "SCHEMA", "Setting", "describe",
           "metric_spec", "parse_duration", "resolve"]
parse_duration = duration

RECIPE_METRIC_KEYS = {"name": "metric_name", "source": "metric_source", "regex": "metric_regex",
                      "command": "metric_parse", "file": "metric_file",
                      "jmespath": "metric_jmespath", "unit": "metric_unit",
                      "exclude": "metric_exclude", "compression": "size_compression"}
# Setting one of these in your own config chooses its metric source over the recipe's.
SOURCE_OF_KEY = {"metric_parse": "command", "metric_regex": "regex", "metric_jmespath": "json"}
SIZE_SOURCES = ("size", "emitted")


@dataclass(frozen=True)
class Setting:
    raw: Any
    origin: str  # "CLAUDE.md:12", "autoresearch.yaml:3", "--time-budget", "recipe ml (...)"


@dataclass(frozen=True, kw_only=True)
class Config(Settings):
    """Every key's typed value (Settings), and where the project is and each value came from."""

    project_dir: Path
    project_type: str
    recipe_source: str
    origins: Mapping[str, str]
    matched: tuple[str, ...] = ()
    files_from: str = ""  # where defaults were looked for: "files tracked by git", ...

    @property
    def values(self) -> dict[str, Any]:
        """Every key's value by name."""
        return {k.name: getattr(self, k.name) for k in SCHEMA}

    @property
    def targets(self) -> tuple[str, ...]:
        return self.target_file

    @property
    def protected_files(self) -> tuple[str, ...]:
        """Readonly and evaluation files: their content must never change."""
        return tuple(dict.fromkeys(self.readonly_files + self.evaluation_files))

    def run_definition(self) -> dict[str, Any]:
        """What makes two measurements comparable: same command, metric, repeats, protections."""
        keys = ("run_command", "runner", "metric_name", "metric_source", "metric_parse",
                "metric_regex", "metric_file", "metric_jmespath", "metric_unit", "repeats",
                "aggregate", "timeout", "readonly_files", "evaluation_files", "metric_exclude",
                "size_compression")
        return {k: getattr(self, k) for k in keys}

    def run_definition_hash(self) -> str:
        text = json.dumps(self.run_definition(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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


CUSTOM_KEYS = ("target_file", "run_command", "metric_name")
METRIC_READERS = ("metric_parse", "metric_source", "metric_regex")
_CUSTOM_HINTS = {"target_file": "the file the agent edits",
                 "run_command": "the command that runs one experiment",
                 "metric_name": "the metric's name",
                 "metric_parse": "a shell command that prints the metric"}


def _missing_custom_keys(settings: Mapping[str, Setting]) -> list[str]:
    """What a configuration without a detected project type still lacks."""
    missing = [k for k in CUSTOM_KEYS if k not in settings]
    if not any(k in settings for k in METRIC_READERS):
        missing.append("metric_parse")
    return missing


def _is_complete(settings: Mapping[str, Setting]) -> bool:
    return not _missing_custom_keys(settings)


def _incomplete_section(project: Path, user: Mapping[str, Setting]) -> ConfigError | None:
    """An error naming the keys a started CLAUDE.md section (or autoresearch.yaml) lacks."""
    missing = _missing_custom_keys(user)
    heading = claude_md.heading_line(project / CLAUDE_FILE)
    if heading is not None:
        where, bullet = f"{project / CLAUDE_FILE}:{heading}: the autoresearch section", "- "
    elif (project / CONFIG_FILE).is_file():
        where, bullet = f"{project / CONFIG_FILE}: the configuration", ""
    else:
        return None
    additions = " ".join(f"'{bullet}{k}: <{_CUSTOM_HINTS[k]}>'" for k in missing)
    return ConfigError(f"{where} has no {', '.join(missing)}; add {additions} (no project "
                       "type was detected from the files, so it must say everything)")


def resolve(project: Path, flags: Mapping[str, Any] | None = None) -> Config:
    """The project's configuration: recipe + CLAUDE.md + autoresearch.yaml + flags, validated."""
    project = project.resolve()
    layers = [claude_md_layer(project), yaml_layer(project), flag_layer(flags or {})]
    user: dict[str, Setting] = {}
    for layer in layers:
        user.update(layer)
    recipe, matched = _choose_recipe(project, user)
    files = project_files.list_files(project)
    settings = {k.name: Setting(k.default, "default") for k in SCHEMA}
    if os.environ.get(SANDBOX_ENV):  # a machine-wide default (CI, a test suite)
        settings["sandbox"] = Setting(os.environ[SANDBOX_ENV], SANDBOX_ENV)
    settings.update(_recipe_layer(recipe, files))
    settings.update(user)
    for key, source in SOURCE_OF_KEY.items():
        if key in user and "metric_source" not in user:
            settings["metric_source"] = Setting(source, user[key].origin)
    values = {name: _convert(name, setting, project) for name, setting in settings.items()}
    origins = {name: setting.origin for name, setting in settings.items()}
    _derive(values, origins, recipe)
    config = Config(project_dir=project, project_type=recipe.name,
                    recipe_source=str(recipe.source), origins=origins,
                    matched=tuple(r.name for r in matched), files_from=files.describe(), **values)
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
        if available[name].config_complete and not _is_complete(user):
            raise _incomplete_section(project, user) or ConfigError(
                f"{_where(user['type'].origin, project)}: type '{name}' needs "
                f"{', '.join(_missing_custom_keys(user))}; set them in CLAUDE.md or "
                f"{CONFIG_FILE}")
        return available[name], matched
    if not matched:
        incomplete = _incomplete_section(project, user)
        if incomplete is not None:
            raise incomplete
        raise ConfigError(
            f"{project}: no project type detected (no train.py+prepare.py, package.json, "
            "pubspec.yaml, pom.xml or build.gradle); add to CLAUDE.md: '## autoresearch' "
            "'- target_file: main.py' '- run_command: python main.py' '- metric_name: score' "
            "'- metric_parse: grep score: run.log | tail -1' '- metric_direction: higher_is_better'"
        )
    return matched[0], matched


def _recipe_layer(recipe: recipes_mod.Recipe,
                  files: project_files.ProjectFiles) -> dict[str, Setting]:
    origin = f"recipe {recipe.name} ({recipe.source.name})"
    layer: dict[str, Setting] = {}

    def put(key: str, raw: Any) -> None:
        if isinstance(raw, recipes_mod.Found):
            raw, why = raw.value, raw.why
        else:
            why = None
        if raw not in (None, "", (), []):
            layer[key] = Setting(raw, f"{origin}: {why}" if why else origin)

    project = files.root
    put("target_file", recipe.find_target(files))
    put("run_command", recipe.run_command_for(project))
    for recipe_key, key in RECIPE_METRIC_KEYS.items():
        put(key, recipe.metric.get(recipe_key))
    plan = recipe.outputs_plan(files)
    put("metric_file", recipe.metric_file_for(files, plan))
    if plan is not None:
        put("required_outputs", recipes_mod.Found(list(plan.required), plan.required_why))
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
    if origin.startswith("recipe "):
        return origin.split("): ", 1)[0] + (")" if "): " in origin else "")
    return origin


def _derive(values: dict[str, Any], origins: dict[str, str], recipe) -> None:
    if values["timeout"] is None:
        values["timeout"] = 2 * values["time_budget"]
        origins["timeout"] = "2 x time_budget"
    if values["metric_source"] is None:
        values["metric_source"] = "command" if values["metric_parse"] else "regex"
        origins["metric_source"] = "default"
    if values["metric_unit"] is None and values["metric_source"] in SIZE_SOURCES:
        values["metric_unit"] = "KB"
        origins["metric_unit"] = "default"
    if values["holdout_direction"] is None:
        values["holdout_direction"] = values["metric_direction"]
        origins["holdout_direction"] = "metric_direction"


def _check(config: Config) -> None:
    """Contradictions and missing pieces that no single value shows."""
    origin = config.origins
    project = config.project_dir
    where = lambda key: _where(origin[key], project)  # noqa: E731
    if not config.values["target_file"]:
        raise ConfigError(f"{project}: no target file found for project type "
                          f"'{config.project_type}' among the {config.files_from}; set "
                          f"target_file in CLAUDE.md or {CONFIG_FILE}, or pass --target-file")
    if not config.run_command:
        raise ConfigError(f"{project}: no run_command for project type '{config.project_type}'; "
                          f"set run_command in CLAUDE.md or {CONFIG_FILE}")
    if not config.metric_name:
        raise ConfigError(f"{project}: no metric_name; set metric_name in CLAUDE.md or "
                          f"{CONFIG_FILE}")
    for target in config.targets:
        problem = target_problem(project, target)
        if problem:
            raise ConfigError(f"{where('target_file')}: target_file '{target}' {problem}; the "
                              "target must be a regular file tracked by git in the project")
        if not (project / target).is_file():
            raise ConfigError(f"{where('target_file')}: target_file '{target}' does not exist "
                              f"in {project}; name an existing file")
        if target in config.protected_files:
            key = "readonly_files" if target in config.readonly_files else "evaluation_files"
            raise ConfigError(f"{where(key)}: '{target}' is both the target_file and in {key}; "
                              "the agent's file cannot be read-only")
    needs = {"command": "metric_parse", "json": "metric_file", "size": "metric_file",
             "emitted": "metric_file"}
    needed = needs.get(config.metric_source)
    if needed and not config.values[needed]:
        raise ConfigError(f"{where('metric_source')}: metric_source '{config.metric_source}' "
                          f"needs {needed}; set it in CLAUDE.md or {CONFIG_FILE}")
    if config.metric_source == "json" and not config.metric_jmespath:
        raise ConfigError(f"{where('metric_source')}: metric_source 'json' needs metric_jmespath")
    if config.agent in ("command", "command+tune") and not config.agent_command:
        raise ConfigError(f"{where('agent')}: agent '{config.agent}' needs agent_command "
                          "(the command line to run)")
    if config.timeout < config.time_budget:
        raise ConfigError(f"{where('timeout')}: timeout ({config.timeout:g} s) is shorter than "
                          f"time_budget ({config.time_budget:g} s); raise it or leave it unset")
    if config.metric_source in SIZE_SOURCES:
        compression.require(config.size_compression)
    units = {"time": TIME_UNITS, **dict.fromkeys(SIZE_SOURCES, SIZE_UNITS)}.get(
        config.metric_source, ())
    if config.metric_unit is not None and config.metric_unit not in units:
        accepted = f"accepted: {', '.join(units)}" if units else "remove it"
        raise ConfigError(f"{where('metric_unit')}: metric_unit '{config.metric_unit}' does not "
                          f"fit metric_source '{config.metric_source}'; {accepted}")
    _check_measurement(config, where)
    from autoresearch.metrics import validate
    try:
        validate(metric_spec(config))
    except ConfigError as exc:  # "metric_regex: ..." -> "FILE:LINE: metric_regex: ..."
        key = exc.message.split(":", 1)[0]
        if origin.get(key, "default") == "default":
            raise
        raise ConfigError(f"{where(key)}: {exc.message}") from None


def target_problem(project: Path, target: str) -> str | None:
    """What makes ``target`` a file the agent must not edit, if anything: outside the
    project, in git's own directory, one of the tool's files, or reached through a link
    (its edits would land elsewhere). Whether git tracks it is checked at the loop's start."""
    parts = Path(target).parts
    if Path(target).is_absolute() or ".." in parts:
        return "is outside the project"
    if ".git" in parts:
        return "is inside git's own directory"
    if any(fnmatch.fnmatch(target, p) or fnmatch.fnmatch(parts[-1], p) for p in TOOL_FILES) \
            or any(f"/{d}" in f"/{target}" for d in TOOL_DIRS):
        return "is one of autoresearch's own files"
    here = project
    for depth, part in enumerate(parts, 1):
        here = here / part
        if here.is_symlink():
            return "is a symbolic link" if depth == len(parts) else \
                "is reached through a symbolic link"
    return None


def _check_measurement(config: Config, where: Callable[[str], str]) -> None:
    """The holdout and comparison keys against each other."""
    from autoresearch.compare import FIRST_LOOK, MAX_REPEATS

    if config.compare == "paired" and not FIRST_LOOK <= config.repeats <= MAX_REPEATS:
        raise ConfigError(f"{where('compare')}: compare: paired needs repeats from {FIRST_LOOK} "
                          f"to {MAX_REPEATS} (pairs of runs), not {config.repeats}; set repeats")
    if not config.holdout_command:
        for key in ("holdout_direction", "holdout_files", "holdout_every", "holdout_tolerance"):
            if config.origins[key] not in ("default", "metric_direction"):
                raise ConfigError(f"{where(key)}: {key} needs holdout_command (the command "
                                  "that prints the holdout metric); set it or remove "
                                  f"{key}")
    for target in config.targets:
        if target in config.holdout_files:
            raise ConfigError(f"{where('holdout_files')}: '{target}' is both the target_file "
                              "and in holdout_files; the agent's file cannot be sealed")


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
        unit=config.metric_unit if config.metric_source in SIZE_SOURCES else None,
        exclude=tuple(config.metric_exclude),
        compression=config.size_compression,
    )


def describe(config: Config) -> str:
    """``key = value  (origin)`` lines, like ``git config --show-origin``; a value chosen for
    the user says why in its origin (a variant, a file that named it, a built-in default)."""
    header = [f"# project: {config.project_dir}",
              f"# type: {config.project_type} ({config.recipe_source})"
              + (f"; matched: {', '.join(config.matched)}" if len(config.matched) > 1 else "")]
    if config.files_from:
        header.append(f"# defaults from: {config.files_from}")
    width = max(len(k.name) for k in SCHEMA)
    lines = []
    for key in SCHEMA:
        if key.name == "type":
            continue
        value, origin = _shown(config, key.name)
        shown = ", ".join(value) if isinstance(value, tuple) else ("" if value is None else value)
        if isinstance(shown, float) and shown.is_integer():
            shown = int(shown)
        lines.append(f"{key.name.ljust(width)} = {shown}  ({origin})")
    return "\n".join(header + lines)


def _shown(config: Config, name: str) -> tuple[Any, str]:
    """The value and origin `config` shows: the value in use, even when it is built in (the
    default metric regex, the sandbox level that works here)."""
    value, origin = config.values[name], config.origins[name]
    if name == "metric_regex" and value is None and config.metric_source == "regex":
        from autoresearch.metrics import default_regex

        return default_regex(config.metric_name), f"default: '{config.metric_name}: <number>'"
    if name == "sandbox":
        level, why = sandbox.probe(value)
        return level, f"{origin}: {why}"
    return value, origin
