"""Where a JavaScript package's build writes, and which of its outputs are entry outputs.

Locations: the files and directories package.json names (``main``, ``module``, ``exports``,
``files``...) and the bundler's config names (``outDir``, ``outfile``), then ``dist``,
``build`` and ``out``. Entry outputs (a candidate must not lose one the best build had):
the files package.json and the bundler name literally, every HTML page, and the chunks
named after an entry source or page (``assets/index-<hash>.js`` for ``index.html``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from autoresearch import package_json, web_build
from autoresearch.pathglob import GLOB_CHARS
from autoresearch.project_files import ProjectFiles

DEFAULT_DIRS = ("dist", "build", "out")


@dataclass(frozen=True)
class OutputPlan:
    locations: tuple[str, ...]  # paths, directories or globs, relative to the project
    required: tuple[str, ...]  # globs over output paths with content hashes removed
    named_by: tuple[str, ...]  # "package.json main, module", "vite.config.ts": for origins
    required_why: str  # what made the required outputs entry outputs, for origins


def plan(files: ProjectFiles, package_file: str = package_json.PACKAGE_FILE,
         defaults: tuple[str, ...] = DEFAULT_DIRS) -> OutputPlan:
    package = package_json.load(files, package_file)
    fields = package_json.named_outputs(package)
    published = package_json.published(package)
    build = web_build.read_build(files, package)
    named = [path for _, path in fields] + published + build.output_files + build.output_dirs
    directories = set(defaults) | set(build.output_dirs) | {
        p for p in published if not os.path.splitext(p)[1] and not GLOB_CHARS & set(p)}
    locations = _collapse(named + list(defaults), directories)
    literal = [p for p in [path for _, path in fields] + build.output_files
               if not GLOB_CHARS & set(p)]
    stems = [_stem(e.path) for e in build.entries] + [_stem(p) for p in build.html_pages]
    required = list(dict.fromkeys(literal + ["**/*.html"] + [f"**/{s}.*" for s in stems]))
    named_by = []
    if fields or published:
        keys = list(dict.fromkeys(name for name, _ in fields)) + (["files"] if published else [])
        named_by.append(f"{package_file} {', '.join(keys)}")
    sources = [e.path for e in build.entries] + build.html_pages
    why = ", ".join(filter(None, [
        f"the files {' and '.join(named_by + build.output_sources)} name" if literal else "",
        "HTML pages",
        f"chunks named after {', '.join(sources)}" if sources else ""]))
    return OutputPlan(tuple(locations), tuple(required), tuple(named_by + build.output_sources),
                      why)


def _collapse(paths: list[str], directories: set[str]) -> list[str]:
    """Unique paths, without those inside one of ``directories`` that is listed too."""
    unique = list(dict.fromkeys(paths))
    listed_dirs = [d for d in unique if d in directories]
    return [p for p in unique
            if not any(p != d and p.startswith(d + "/") for d in listed_dirs)]


def _stem(path: str) -> str:
    return os.path.basename(path).split(".", 1)[0]

