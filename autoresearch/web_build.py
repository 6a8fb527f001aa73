"""What a JavaScript build starts from and what it writes, read from its files, never run.

The build script (package.json ``scripts.build``, following ``npm run X``) names the tools;
each tool's config file or command-line arguments name the entry sources (``entry``,
``input``, ``entryPoints``, ``entries``, an HTML page's module script) and the outputs
(``outfile``, ``file``, ``outDir``, ``--outdir``...). When the script names no known tool,
the known config files are read in a fixed order. Entry sources are only files of the
project (tracked by git), so a build output is never one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from autoresearch import js_text, package_json
from autoresearch.project_files import ProjectFiles, normalize
from autoresearch.shell_words import Command, commands

SOURCE_EXTENSIONS = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
CONFIG_EXTENSIONS = (".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json")
ENTRY_KEYS = ("entry", "input", "entryPoints", "entries")
OUTPUT_FILE_KEYS = ("outfile", "file")
OUTPUT_DIR_KEYS = ("outDir", "outdir", "dir")
# Tool -> the stem of its config files (vite.config.ts, ...) and the package.json key
# that may hold the same config.
CONFIG_STEMS = {"vite": "vite.config", "rollup": "rollup.config", "rolldown": "rolldown.config",
                "webpack": "webpack.config", "tsup": "tsup.config", "tsdown": "tsdown.config",
                "unbuild": "build.config"}
PACKAGE_KEYS = {"tsup": "tsup", "tsdown": "tsdown", "unbuild": "unbuild"}
RUNNERS = {"node", "tsx", "ts-node", "bun", "babel-node", "zx", "vite-node", "jiti"}
MAX_SCRIPT_DEPTH = 5
SCRIPT = "package.json scripts.build"
_HTML_SCRIPT = re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_OPTION_WITH_VALUE = {"-c", "--config", "-i", "--input", "--entry", "-e", "-o", "--output",
                      "--file", "-d", "--dir", "--out-dir", "--outDir", "--dist-dir", "-f",
                      "--format", "--mode", "--target", "--platform", "--name", "-n", "-p",
                      "--project", "--rootDir"}


@dataclass(frozen=True)
class Entry:
    path: str  # a project file
    where: str  # what named it: "vite.config.ts entry", "index.html script"


@dataclass
class BuildFacts:
    entries: list[Entry] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)  # named literally
    output_dirs: list[str] = field(default_factory=list)
    html_pages: list[str] = field(default_factory=list)  # entry pages (index.html)
    output_sources: list[str] = field(default_factory=list)  # what named outputs, for origins

    def add_entry(self, path: str, where: str) -> None:
        if path not in [e.path for e in self.entries]:
            self.entries.append(Entry(path, where))

    def add_output(self, raw: str, base: str, where: str, *, directory: bool) -> None:
        if any(c in raw for c in "*[{$") or raw.startswith(("/", "~")):
            return
        path = normalize(os.path.join(base, raw))
        target = self.output_dirs if directory else self.output_files
        if path is not None and path not in target:
            target.append(path)
            if where not in self.output_sources:
                self.output_sources.append(where)


def read_build(files: ProjectFiles, package: dict) -> BuildFacts:
    """The entries and outputs of the package's build (``scripts.build``)."""
    facts = BuildFacts()
    scripts = package_json.scripts(package)
    tools_seen = _follow_script(files, package, scripts, "build", facts, depth=0)
    if not tools_seen:
        for tool in CONFIG_STEMS:
            _read_tool_config(files, package, tool, None, ".", facts)
    return facts


def _follow_script(files, package, scripts, name, facts, depth) -> set[str]:
    if depth >= MAX_SCRIPT_DEPTH or name not in scripts:
        return set()
    tools: set[str] = set()
    for command in commands(scripts[name]):
        argv = _unwrap_launcher(command.argv, scripts)
        if not argv:
            continue
        nested = _script_name(argv, scripts)
        if nested is not None:
            tools |= _follow_script(files, package, scripts, nested, facts, depth + 1)
            continue
        tool = os.path.basename(argv[0])
        reader = _TOOLS.get(tool)
        if reader is not None:
            tools.add(tool)
            reader(files, package, Command(argv, command.cwd), facts)
        elif tool in RUNNERS:
            tools.add(tool)
            _read_build_script(files, Command(argv, command.cwd), facts)
    return tools


def _unwrap_launcher(argv: tuple[str, ...], scripts: dict[str, str]) -> tuple[str, ...]:
    """``npx vite build`` -> ``vite build``; ``yarn vite build`` -> ``vite build``."""
    name = os.path.basename(argv[0])
    if name in ("npx", "bunx", "pnpx"):
        rest = [a for a in argv[1:] if not a.startswith("-")]
        return tuple(rest)
    if name in ("pnpm", "yarn") and len(argv) > 2 and argv[1] in ("exec", "dlx"):
        return argv[2:]
    if name in ("yarn", "pnpm") and len(argv) > 1 and argv[1] not in scripts \
            and argv[1] not in ("run", "install", "add") and not argv[1].startswith("-"):
        return argv[1:]
    return argv


def _script_name(argv: tuple[str, ...], scripts: dict[str, str]) -> str | None:
    """The package script that ``npm run X`` / ``yarn X`` / ``pnpm run X`` runs, if any."""
    name = os.path.basename(argv[0])
    words = [a for a in argv[1:] if not a.startswith("-")]
    if name in ("npm", "pnpm", "yarn", "bun") and len(words) >= 2 and words[0] in ("run",
                                                                                 "run-script"):
        return words[1]
    if name in ("yarn", "pnpm") and words and words[0] in scripts:
        return words[0]
    return None


# -- the tools -------------------------------------------------------------------------

def _options(argv: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional arguments and ``{option: [values]}`` (``--a=b`` and ``--a b`` forms)."""
    positional: list[str] = []
    options: dict[str, list[str]] = {}
    index = 1
    while index < len(argv):
        word = argv[index]
        if word.startswith("-") and "=" in word:
            key, value = word.split("=", 1)
            options.setdefault(key, []).append(value)
        elif word in _OPTION_WITH_VALUE and index + 1 < len(argv):
            options.setdefault(word, []).append(argv[index + 1])
            index += 1
        elif word.startswith("-"):
            options.setdefault(word, []).append("")
        else:
            positional.append(word)
        index += 1
    return positional, options


def _first(options: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        for value in options.get(name, []):
            if value:
                return value
    return None


def _vite(files, package, command, facts) -> None:
    positional, options = _options(command.argv)
    root = positional[1] if positional[:1] == ["build"] and len(positional) > 1 else "."
    before = len(facts.entries)
    _read_tool_config(files, package, "vite", _first(options, "-c", "--config"), command.cwd,
                      facts)
    if out := _first(options, "--outDir"):
        facts.add_output(out, command.cwd, SCRIPT, directory=True)
    if len(facts.entries) == before:  # an app: the page is the entry
        _read_html(files, normalize(os.path.join(command.cwd, root, "index.html")), facts,
                   "vite")


def _rollup(files, package, command, facts) -> None:
    positional, options = _options(command.argv)
    tool = os.path.basename(command.argv[0])
    if "-c" in options or "--config" in options:
        _read_tool_config(files, package, tool, _first(options, "-c", "--config"), command.cwd,
                          facts)
    for raw in positional + options.get("-i", []) + options.get("--input", []):
        _add_entry(files, facts, raw, [command.cwd], f"{SCRIPT} ({tool})")
    if out := _first(options, "-o", "--file"):
        facts.add_output(out, command.cwd, SCRIPT, directory=False)
    if out := _first(options, "-d", "--dir"):
        facts.add_output(out, command.cwd, SCRIPT, directory=True)


def _configured(tool: str):
    """A tool configured by its config file, entries also given as arguments (tsup, ...)."""
    def read(files, package, command, facts) -> None:
        positional, options = _options(command.argv)
        _read_tool_config(files, package, tool, _first(options, "-c", "--config"), command.cwd,
                          facts)
        for raw in [p for p in positional if p not in ("build", "bundle")] + \
                options.get("--entry", []):
            _add_entry(files, facts, raw, [command.cwd], f"{SCRIPT} ({tool})")
        if out := _first(options, "-d", "--out-dir", "--outDir", "-o", "--output-path"):
            facts.add_output(out, command.cwd, SCRIPT, directory=True)
    return read


def _microbundle(files, package, command, facts) -> None:
    positional, options = _options(command.argv)
    raws = [p for p in positional if p not in ("build", "watch")]
    for value in options.get("-i", []) + options.get("--entry", []) + options.get("-e", []):
        raws.extend(value.split(","))
    for raw in raws:
        _add_entry(files, facts, raw, [command.cwd], f"{SCRIPT} (microbundle)")
    if out := _first(options, "-o", "--output", "-d"):
        facts.add_output(out, command.cwd, SCRIPT, directory=not os.path.splitext(out)[1])


def _esbuild(files, package, command, facts) -> None:
    positional, options = _options(command.argv)
    for raw in positional:
        _add_entry(files, facts, raw.split("=", 1)[-1], [command.cwd],
                   f"{SCRIPT} (esbuild)")
    if out := _first(options, "--outfile"):
        facts.add_output(out, command.cwd, SCRIPT, directory=False)
    if out := _first(options, "--outdir"):
        facts.add_output(out, command.cwd, SCRIPT, directory=True)


def _parcel(files, package, command, facts) -> None:
    positional, options = _options(command.argv)
    for raw in [p for p in positional if p not in ("build", "serve", "watch")]:
        path = normalize(os.path.join(command.cwd, raw))
        if path and path.endswith(".html"):
            _read_html(files, path, facts, "parcel")
        else:
            _add_entry(files, facts, raw, [command.cwd], f"{SCRIPT} (parcel)")
    if out := _first(options, "--dist-dir"):
        facts.add_output(out, command.cwd, SCRIPT, directory=True)


def _ncc(files, package, command, facts) -> None:
    positional, options = _options(command.argv)
    for raw in [p for p in positional if p not in ("build", "run")][:1]:
        _add_entry(files, facts, raw, [command.cwd], f"{SCRIPT} (ncc)")
    if out := _first(options, "-o", "--out"):
        facts.add_output(out, command.cwd, SCRIPT, directory=True)


def _tsc(files, package, command, facts) -> None:
    """Plain ``tsc``: each output field under ``outDir`` is compiled from the same path under
    ``rootDir`` (or the one directory ``include`` names), read from the tsconfig and the
    local tsconfigs it extends."""
    _, options = _options(command.argv)
    project = normalize(os.path.join(command.cwd, _first(options, "-p", "--project") or "."))
    config = project if project and project.endswith(".json") else \
        normalize(os.path.join(project or ".", "tsconfig.json"))
    settings = _tsconfig(files, config)
    base = os.path.dirname(config or "")
    out = _first(options, "--outDir") or settings.get("outDir")
    root = _first(options, "--rootDir") or settings.get("rootDir")
    if root is None and len(settings.get("include", ())) == 1:
        root = settings["include"][0]
    if out is None:
        return
    facts.add_output(out, base, f"{config} outDir", directory=True)
    out_dir, root_dir = normalize(os.path.join(base, out)), \
        normalize(os.path.join(base, root or "."))
    for field, path in package_json.named_outputs(package):
        if out_dir and path.startswith(out_dir + "/") and field in ("main", "module", "exports"):
            stem = os.path.splitext(path[len(out_dir) + 1:])[0]
            _add_entry(files, facts, stem if root_dir is None else f"{root_dir}/{stem}", ["."],
                       f"{config} rootDir (tsc)")


def _tsconfig(files, path: str | None, depth: int = 0) -> dict:
    """outDir, rootDir (strings) and include (a list) of a tsconfig, its own values over
    those of the local config it extends (a package's shared config is not read)."""
    text = files.read(path) if path else None
    if text is None or depth >= MAX_SCRIPT_DEPTH:
        return {}
    found = dict(js_text.values_of(text, ("extends", "outDir", "rootDir", "include")))
    settings: dict = {}
    parent = (found.get("extends") or [""])[0]
    if parent.startswith("."):
        parent = os.path.join(os.path.dirname(path), parent)
        settings = _tsconfig(files, normalize(parent if parent.endswith(".json")
                                              else parent + ".json"), depth + 1)
    for key in ("outDir", "rootDir"):
        if found.get(key):
            settings[key] = found[key][0]
    if found.get("include"):
        settings["include"] = [i for i in found["include"] if not any(c in i for c in "*?")]
    return settings


_TOOLS = {"vite": _vite, "rollup": _rollup, "rolldown": _rollup,
          "webpack": _configured("webpack"), "webpack-cli": _configured("webpack"),
          "tsup": _configured("tsup"), "tsdown": _configured("tsdown"),
          "unbuild": _configured("unbuild"), "microbundle": _microbundle,
          "esbuild": _esbuild, "parcel": _parcel, "ncc": _ncc, "tsc": _tsc}


# -- config files, build scripts, pages ----------------------------------------------------

def _read_tool_config(files, package, tool, explicit, cwd, facts) -> None:
    names = [explicit] if explicit else [CONFIG_STEMS[tool] + ext for ext in CONFIG_EXTENSIONS]
    for name in names:
        path = normalize(os.path.join(cwd, name))
        text = files.read(path) if path else None
        if text is not None:
            _read_literals(files, text, path, [cwd, os.path.dirname(path)], facts)
            return
    key = PACKAGE_KEYS.get(tool)
    if key and isinstance(package.get(key), (dict, list)):
        _read_literals(files, json.dumps(package[key]), f"package.json {key}", [cwd], facts)


def _read_build_script(files: ProjectFiles, command: Command, facts: BuildFacts) -> None:
    positional, _ = _options(command.argv)
    for raw in positional[:1]:
        path = normalize(os.path.join(command.cwd, raw))
        text = files.read(path) if path else None
        if text is not None:
            _read_literals(files, text, path, [command.cwd, os.path.dirname(path)], facts)


def _read_literals(files, text, name, bases, facts) -> None:
    for key, literals in js_text.values_of(text, ENTRY_KEYS):
        for raw in _joined(literals):
            if raw.endswith(".html"):
                _read_html(files, _resolve_plain(raw, bases), facts, name)
            else:
                _add_entry(files, facts, raw, bases, f"{name} {key}")
    for key, literals in js_text.values_of(text, OUTPUT_FILE_KEYS + OUTPUT_DIR_KEYS):
        for raw in literals[-1:]:  # resolve(__dirname, 'dist') names 'dist'
            facts.add_output(raw, bases[0], name, directory=key in OUTPUT_DIR_KEYS)


def _read_html(files: ProjectFiles, page: str | None, facts: BuildFacts, tool: str) -> None:
    text = files.read(page) if page else None
    if text is None:
        return
    if page not in facts.html_pages:
        facts.html_pages.append(page)
    base = os.path.dirname(page)
    for src in _HTML_SCRIPT.findall(text):
        if "://" in src or src.startswith("//"):
            continue
        bases = [base or ".", "."] if src.startswith("/") else [base or "."]
        _add_entry(files, facts, src, bases, f"{page} script")


def _joined(literals: list[str]) -> list[str]:
    """Each literal, then runs of two or three joined: resolve(__dirname, 'src', 'a.ts')."""
    runs = [literals[i:i + n] for n in (2, 3) for i in range(len(literals) - n + 1)]
    return literals + ["/".join(run) for run in runs]


def _resolve_plain(raw: str, bases: list[str]) -> str | None:
    return normalize(os.path.join(bases[0], raw.lstrip("/")))


def _add_entry(files, facts, raw, bases, where) -> None:
    if any(c in raw for c in "*{$") or "://" in raw:
        return
    for base in bases:
        path = normalize(os.path.join(base, raw.lstrip("/")))
        if path is None:
            continue
        for candidate in _with_extensions(path):
            if files.has(candidate):
                facts.add_entry(candidate, where)
                return


def _with_extensions(path: str) -> list[str]:
    if os.path.splitext(path)[1] in SOURCE_EXTENSIONS:
        return [path]
    return [path] + [path + ext for ext in SOURCE_EXTENSIONS] + \
        [f"{path}/index{ext}" for ext in SOURCE_EXTENSIONS]
