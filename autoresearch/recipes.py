"""Recipes: one YAML file per project type, loaded into frozen dataclasses, and detection.

A recipe says how to recognise a project (``detect``), which file the agent edits
(``target``), how to run an experiment (``run_command``, ``variants``), how to read
the metric (``metric``), its ``direction`` and the files that must never change.
Defaults are found among the project's files that git tracks (files on disk when it is
not a repository yet), so a build output or an ignored file is never one.
Adding a project type needs only a new YAML file in a directory of the search path:

1. ``$AUTORESEARCH_RECIPES`` (directories separated by ``os.pathsep``),
2. ``~/.config/autoresearch/recipes``,
3. the recipes shipped with autoresearch.

A recipe found earlier in the path replaces a shipped one of the same ``name``.
When several recipes match a project the highest ``priority`` wins (custom 100, ml 40,
flutter 30, java 20, web 10): a Flutter or Java project often has a package.json too.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoresearch import package_json, web_build, web_outputs
from autoresearch.errors import ConfigError
from autoresearch.project_files import ProjectFiles
from autoresearch.yamlio import load_yaml_mapping

RECIPE_KEYS = {
    "name", "description", "priority", "detect", "target", "run_command", "variants",
    "metric", "direction", "readonly_files", "evaluation_files",
}
DETECT_KEYS = {"all_files", "any_files", "config_complete"}
WHEN_KEYS = {"files", "any_files", "executables"}
VARIANT_KEYS = {"when", "run_command", "why"}
METRIC_KEYS = {"name", "source", "regex", "command", "file", "jmespath", "unit", "output_key",
               "outputs_of", "exclude", "compression"}
TARGET_KINDS = ("path", "json_file", "search", "bundler_entry")


@dataclass(frozen=True)
class Variant:
    files: tuple[str, ...] = ()
    any_files: tuple[str, ...] = ()
    executables: tuple[str, ...] = ()
    run_command: str = ""
    why: str = ""  # shown by `config` when this variant is chosen or passed over

    def files_hold(self, project: Path) -> bool:
        return (all((project / f).exists() for f in self.files)
                and (not self.any_files or any((project / f).exists() for f in self.any_files)))

    def missing_executables(self) -> list[str]:
        return [exe for exe in self.executables if shutil.which(exe) is None]


@dataclass(frozen=True)
class Found:
    """A default the recipe found, and why (shown after the recipe in `config`'s origins)."""

    value: Any
    why: str | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    source: Path
    description: str = ""
    priority: int = 0
    all_files: tuple[str, ...] = ()
    any_files: tuple[str, ...] = ()
    config_complete: bool = False
    target: tuple[dict, ...] = ()
    run_command: str | None = None
    variants: tuple[Variant, ...] = ()
    metric: dict = field(default_factory=dict)
    direction: str = "lower_is_better"
    readonly_files: tuple[str, ...] = ()
    evaluation_files: tuple[str, ...] = ()

    def matches(self, project: Path, config_complete: bool) -> bool:
        if self.config_complete:
            return config_complete
        if not self.all_files and not self.any_files:
            return False
        has_all = all((project / f).exists() for f in self.all_files)
        has_any = not self.any_files or any((project / f).exists() for f in self.any_files)
        return has_all and has_any

    def run_command_for(self, project: Path) -> Found:
        """The first variant whose conditions hold, else the plain run command; ``why`` says
        which variant and which others were passed over (a tool not installed, a second
        build file)."""
        notes: list[str] = []
        for index, variant in enumerate(self.variants):
            if not variant.files_hold(project):
                continue
            missing = variant.missing_executables()
            if missing:
                notes.append(f"'{variant.run_command}' skipped: {', '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} not installed")
                continue
            others: dict[str, Variant] = {}  # by command: the alternatives that could run
            for other in self.variants[index + 1:]:
                if (other.run_command != variant.run_command and other.files_hold(project)
                        and not other.missing_executables() and _runnable(other, project)):
                    others.setdefault(other.run_command, other)
            over = [f"'{v.run_command}' ({v.why})" if v.why else f"'{v.run_command}'"
                    for v in others.values()]
            chosen = variant.why or "variant " + str(index + 1)
            notes = [n for n in notes if not n.startswith(f"'{variant.run_command}' ")]
            notes.insert(0, chosen + (f", chosen over {' and '.join(over)}" if over else ""))
            return Found(variant.run_command, "; ".join(notes))
        return Found(self.run_command, "; ".join(notes) or None)

    def find_target(self, files: ProjectFiles) -> Found | None:
        """The default target file, by the recipe's strategies in order; None if none finds
        one. Only the project's files count (tracked by git, or on disk without git)."""
        for strategy in self.target:
            found = _apply_target_strategy(strategy, files)
            if found:
                return found
        return None

    def outputs_plan(self, files: ProjectFiles) -> web_outputs.OutputPlan | None:
        """For ``metric.outputs_of``: where the package's build writes and its entry outputs."""
        package_file = self.metric.get("outputs_of")
        if not package_file:
            return None
        defaults = tuple(p.strip() for p in str(self.metric.get("file", "")).split(",")
                         if p.strip())
        return web_outputs.plan(files, package_file, defaults)

    def metric_file_for(self, files: ProjectFiles,
                        plan: web_outputs.OutputPlan | None = None) -> Found | None:
        """The size metric's paths: a package.json-style override key, else the outputs the
        package names plus the recipe's list, else the recipe's list."""
        output_key = self.metric.get("output_key")
        if output_key:
            named = _json_key(files, output_key["json_file"], output_key["key"])
            if isinstance(named, str) and named:
                return Found(named, f"{output_key['json_file']} {output_key['key']}")
        if plan is not None:
            listed = self.metric.get("file")
            why = f"named by {' and '.join(plan.named_by)}" if plan.named_by else ""
            why += f", plus {listed}" if why and listed else ""
            return Found(", ".join(plan.locations), why or None)
        file = self.metric.get("file")
        return Found(file) if file else None


def _runnable(variant: Variant, project: Path) -> bool:
    """Whether the variant's program exists: on PATH, or a ``./path`` in the project."""
    words = variant.run_command.split()
    if not words:
        return False
    return (project / words[0]).is_file() if "/" in words[0] else bool(shutil.which(words[0]))


def _json_key(files: ProjectFiles, json_file: str, dotted: str) -> Any:
    value: Any = package_json.load(files, json_file)
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _apply_target_strategy(strategy: dict, files: ProjectFiles) -> Found | None:
    if "path" in strategy:
        return Found(strategy["path"]) if files.has(strategy["path"]) else None
    if "json_file" in strategy:
        named = _json_key(files, strategy["json_file"], strategy["key"])
        if isinstance(named, str) and named and files.has(named):
            return Found(Path(named).as_posix().removeprefix("./"))
        return None
    if "bundler_entry" in strategy:
        package = package_json.load(files, strategy["bundler_entry"])
        entries = web_build.read_build(files, package).entries
        return Found(entries[0].path, f"the build's entry ({entries[0].where})") if entries \
            else None
    pattern = re.compile(strategy.get("pattern", ""), re.MULTILINE)  # none: the first file
    for path in files.glob(strategy["search"]):
        if _is_hidden_or_vendored(Path(path)):
            continue
        text = files.read(path)
        if text is not None and pattern.search(text):
            return Found(path)
    return None


def _is_hidden_or_vendored(relative: Path) -> bool:
    return any(p.startswith(".") or p in {"node_modules", "build", "target"} for p in relative.parts)


# -- loading ----------------------------------------------------------------------------

def shipped_dir() -> Path:
    """The recipes shipped in the wheel (autoresearch/recipes) or in a source checkout."""
    inside = Path(__file__).parent / "recipes"
    return inside if inside.is_dir() else Path(__file__).parent.parent / "recipes"


def search_path() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("AUTORESEARCH_RECIPES", "").split(os.pathsep) if p]
    dirs.append(Path.home() / ".config" / "autoresearch" / "recipes")
    dirs.append(shipped_dir())
    return dirs


def load_all() -> dict[str, Recipe]:
    """Every recipe on the search path by name; earlier directories win."""
    recipes: dict[str, Recipe] = {}
    for directory in search_path():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
            recipe = load_recipe(path)
            recipes.setdefault(recipe.name, recipe)
    return recipes


def load_recipe(path: Path) -> Recipe:
    data, lines = load_yaml_mapping(path)

    def fail(key: str, problem: str) -> ConfigError:
        where = f"{path}:{lines.get(key, 1)}"
        return ConfigError(f"{where}: recipe key '{key}' {problem}")

    unknown = set(data) - RECIPE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise fail(key, f"is unknown; accepted: {', '.join(sorted(RECIPE_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise fail("name", f"must be a lowercase word (letters, digits, - or _), got {name!r}")
    detect = _mapping(data.get("detect", {}), "detect", fail, DETECT_KEYS)
    metric = _mapping(data.get("metric", {}), "metric", fail, METRIC_KEYS)
    if "output_key" in metric:
        _json_ref(metric["output_key"], "metric", fail)
    for key in ("outputs_of", "compression"):
        if key in metric and not (isinstance(metric[key], str) and metric[key]):
            raise fail("metric", f"{key} must be a non-empty string, got {metric[key]!r}")
    if "exclude" in metric:
        metric["exclude"] = list(_strings(metric["exclude"], "metric", fail))
    direction = data.get("direction", "lower_is_better")
    if direction not in ("lower_is_better", "higher_is_better"):
        raise fail("direction", f"is {direction!r}; accepted: lower_is_better, higher_is_better")
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise fail("priority", f"must be a whole number, got {priority!r}")
    return Recipe(
        name=name,
        source=path,
        description=str(data.get("description", "")),
        priority=priority,
        all_files=_strings(detect.get("all_files", []), "detect", fail),
        any_files=_strings(detect.get("any_files", []), "detect", fail),
        config_complete=_boolean(detect.get("config_complete", False), "detect", fail),
        target=tuple(_target_strategy(s, fail) for s in _list(data.get("target", []), "target", fail)),
        run_command=_optional_str(data.get("run_command"), "run_command", fail),
        variants=tuple(_variant(v, fail) for v in _list(data.get("variants", []), "variants", fail)),
        metric=dict(metric),
        direction=direction,
        readonly_files=_strings(data.get("readonly_files", []), "readonly_files", fail),
        evaluation_files=_strings(data.get("evaluation_files", []), "evaluation_files", fail),
    )


def _mapping(value, key, fail, allowed) -> dict:
    if not isinstance(value, dict):
        raise fail(key, f"must be a mapping, got {type(value).__name__}")
    unknown = set(value) - allowed
    if unknown:
        raise fail(key, f"has unknown entry '{sorted(unknown)[0]}'; accepted: {', '.join(sorted(allowed))}")
    return value


def _list(value, key, fail) -> list:
    if not isinstance(value, list):
        raise fail(key, f"must be a list, got {type(value).__name__}")
    return value


def _strings(value, key, fail) -> tuple[str, ...]:
    items = _list(value, key, fail)
    if not all(isinstance(v, str) for v in items):
        raise fail(key, "must be a list of file names")
    return tuple(items)


def _optional_str(value, key, fail) -> str | None:
    if value is not None and not isinstance(value, str):
        raise fail(key, f"must be a string, got {type(value).__name__}")
    return value


def _target_strategy(strategy, fail) -> dict:
    if not isinstance(strategy, dict) or not any(k in strategy for k in TARGET_KINDS):
        raise fail("target", f"entries need one of {', '.join(TARGET_KINDS)}, got {strategy!r}")
    for key, value in strategy.items():
        if not isinstance(value, str) or not value:
            raise fail("target", f"entry field '{key}' must be a non-empty string, got {value!r}")
    for key in ("path", "json_file", "search", "bundler_entry"):
        if key in strategy and (Path(strategy[key]).is_absolute()
                                or ".." in Path(strategy[key]).parts):
            raise fail("target", f"entry field '{key}' must be relative to the project "
                                 f"(no leading / or '..'), got {strategy[key]!r}")
    if "search" in strategy:
        try:
            re.compile(strategy.get("pattern", ""))
        except re.error as exc:
            raise fail("target", f"has a bad pattern {strategy.get('pattern')!r}: {exc}") from None
    if "json_file" in strategy and "key" not in strategy:
        raise fail("target", "entries with json_file need a key")
    return dict(strategy)


def _boolean(value, key, fail) -> bool:
    if not isinstance(value, bool):
        raise fail(key, f"config_complete must be true or false, got {value!r}")
    return value


def _json_ref(value, key, fail) -> None:
    """``{json_file: package.json, key: dotted.key}``, as metric.output_key takes it."""
    if not (isinstance(value, dict) and set(value) == {"json_file", "key"}
            and all(isinstance(v, str) and v for v in value.values())):
        raise fail(key, f"output_key must be {{json_file: FILE, key: KEY}}, got {value!r}")


def _variant(value, fail) -> Variant:
    if not isinstance(value, dict) or "when" not in value or "run_command" not in value:
        raise fail("variants", "entries need 'when' and 'run_command'")
    _mapping(value, "variants", fail, VARIANT_KEYS)
    when = _mapping(value["when"], "variants", fail, WHEN_KEYS)
    return Variant(
        files=_strings(when.get("files", []), "variants", fail),
        any_files=_strings(when.get("any_files", []), "variants", fail),
        executables=_strings(when.get("executables", []), "variants", fail),
        run_command=_optional_str(value["run_command"], "variants", fail) or "",
        why=_optional_str(value.get("why"), "variants", fail) or "",
    )


def detect(recipes: dict[str, Recipe], project: Path, config_complete: bool) -> list[Recipe]:
    """The recipes matching ``project``, best first (highest priority, then name)."""
    matching = [r for r in recipes.values() if r.matches(project, config_complete)]
    return sorted(matching, key=lambda r: (-r.priority, r.name))
