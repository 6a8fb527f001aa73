"""Projects shaped like the real ones issue 14 was found on, written by the tests themselves.

Each builder writes a small project into ``root`` and returns it; :func:`commit` makes it a
git repository with one commit (pinned identity, as :mod:`helpers` does). The web projects
build for real with bundlers from the npm registry: :func:`bundlers` installs them once per
test session (tests/fixtures/npm pins the versions) and :func:`link_bundlers` gives a project
a ``node_modules`` symlink to them. For end-to-end loop tests the builders are the same.

- :func:`esm_library`: main/module/exports point into dist/, no ``source``; Vite library
  mode bundles ``src/lib.ts`` (issue 14, item 1).
- :func:`vite_react_app`: index.html, src/main.tsx, src/App.tsx and a lazily loaded page;
  content-hashed chunks (item 2, and item 5's hash matching).
- :func:`build_dir_package`: a tracked build/ directory holding the build script, which
  writes index.js and colors.js at the root (item 3).
- :func:`maps_library`: esbuild with source maps and a copied type declaration (item 4).
- :func:`dropping_library`: a minifier step that fails on modern syntax while the build
  still exits 0, so dist/x.min.js goes missing (item 5).
- :func:`docs_step_library`: a build whose docs step rewrites the tracked README.md (item 6).
- :func:`in_subdirectory`: any of these one level down in a bigger repository (item 7).
- :func:`maven_project` / :func:`gradle_and_maven_project`: a Java project whose ``./mvnw``
  stand-in compiles incrementally with javac unless told ``clean`` (item 9).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import POM, write_files
from helpers import git

FIXTURES = Path(__file__).parent / "fixtures"
NPM_FIXTURE = FIXTURES / "npm"
GITIGNORE = "node_modules\ndist/\n"  # node_modules may be a symlink: no slash
_installed: dict[Path, Path] = {}  # shared directory -> its node_modules, once per session


# -- npm ---------------------------------------------------------------------------------

def bundlers(directory: Path) -> Path:
    """node_modules with esbuild and vite (tests/fixtures/npm), installed into ``directory``
    the first time this session asks; later calls return the same directory."""
    if directory in _installed:
        return _installed[directory]
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(NPM_FIXTURE / name, directory / name)
    done = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"],
                          cwd=directory, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    modules = directory / "node_modules"
    assert (modules / ".bin" / "esbuild").exists() and (modules / ".bin" / "vite").exists()
    _installed[directory] = modules
    return modules


@pytest.fixture(scope="session")
def npm_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's node_modules with the bundlers (import this fixture into a test module;
    every module that does shares one install)."""
    return bundlers(tmp_path_factory.getbasetemp() / "bundlers")


def link_bundlers(project: Path, modules: Path) -> Path:
    (project / "node_modules").symlink_to(modules, target_is_directory=True)
    return project


def npm_build(project: Path, script: str = "build") -> subprocess.CompletedProcess:
    """``npm run build`` in ``project``, as a run would; the test asserts on the result."""
    return subprocess.run(["npm", "run", "--silent", script], cwd=project, capture_output=True,
                          text=True, timeout=300)


# -- git ----------------------------------------------------------------------------------

def write(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (path -> text) under ``root``; a text starting ``#!`` is executable."""
    return write_files(root, files)


def commit(project: Path, message: str = "the project") -> Path:
    """Make ``project`` a git repository (branch main) with everything committed."""
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", message)
    return project


def package(**fields: object) -> str:
    return json.dumps({"name": "fixture", "version": "1.0.0", "private": True, **fields},
                      indent=2) + "\n"


# -- web ----------------------------------------------------------------------------------

def esm_library(root: Path) -> Path:
    """A TypeScript library built by Vite in library mode from src/lib.ts; package.json names
    only dist/ files (no ``source``), as most ESM/TS libraries do."""
    return write(root, {
        ".gitignore": GITIGNORE,
        "package.json": package(
            name="tiny-lib", type="module", main="./dist/tiny-lib.umd.cjs",
            module="./dist/tiny-lib.js",
            exports={".": {"import": "./dist/tiny-lib.js", "require": "./dist/tiny-lib.umd.cjs"}},
            files=["dist"], scripts={"build": "vite build"}),
        "vite.config.js": (
            "import { resolve } from 'node:path'\n"
            "import { defineConfig } from 'vite'\n\n"
            "// Library mode: one entry, an ES module and a UMD bundle.\n"
            "export default defineConfig({\n"
            "  build: {\n"
            "    lib: {\n"
            "      entry: resolve(import.meta.dirname, 'src/lib.ts'),\n"
            "      name: 'TinyLib',\n"
            "      fileName: 'tiny-lib',\n"
            "    },\n"
            "  },\n"
            "})\n"),
        "src/lib.ts": (
            "import { clamp } from './math'\n\n"
            "/** Scale a value into 0..1. */\n"
            "export function normalize(value: number, low: number, high: number): number {\n"
            "  return clamp((value - low) / (high - low), 0, 1)\n"
            "}\n\n"
            "export function describe(values: number[]): string {\n"
            "  const total = values.reduce((sum, v) => sum + v, 0)\n"
            "  return `${values.length} values, mean ${(total / values.length).toFixed(2)}`\n"
            "}\n"),
        "src/math.ts": (
            "export function clamp(value: number, low: number, high: number): number {\n"
            "  return Math.min(high, Math.max(low, value))\n"
            "}\n"),
    })


def tsc_library(root: Path) -> Path:
    """A TypeScript library compiled by plain ``tsc`` from source/ into distribution/, the
    build's tsconfig extending the editor's one (the layout of many of sindresorhus's
    packages): no bundler, no ``source`` field, main and exports only in the output."""
    return write(root, {
        ".gitignore": "node_modules\ndistribution\n",
        "package.json": package(
            name="fetchy", type="module", main="./distribution/index.js",
            exports={"types": "./distribution/index.d.ts",
                     "default": "./distribution/index.js"},
            files=["distribution"],
            scripts={"build": "del-cli distribution && tsc --project tsconfig.dist.json",
                     "prepare": "npm run build"}),
        "tsconfig.json": ('{\n\t// the editor view: everything under source\n'
                          '\t"extends": "@sindresorhus/tsconfig",\n'
                          '\t"include": ["source"]\n}\n'),
        "tsconfig.dist.json": ('{\n\t"extends": "./tsconfig",\n\t"compilerOptions": {\n'
                               '\t\t"rootDir": "./source",\n\t\t"outDir": "./distribution"\n'
                               '\t},\n\t"include": ["source"]\n}\n'),
        "source/index.ts": "export {fetchy} from './core/fetchy.js';\n",
        "source/core/fetchy.ts": ("export async function fetchy(url: string): Promise<string> "
                                  "{\n\treturn (await fetch(url)).text();\n}\n"),
    })


def vite_react_app(root: Path) -> Path:
    """The layout `npm create vite` gives a React TypeScript app (index.html, src/main.tsx,
    src/App.tsx), without React itself: App.tsx builds its page as a string, and loads the
    About page lazily (a chunk of its own)."""
    return write(root, {
        ".gitignore": GITIGNORE,
        "package.json": package(name="vite-react-app", type="module",
                                scripts={"dev": "vite", "build": "vite build"}),
        "vite.config.ts": ("import { defineConfig } from 'vite'\n\n"
                           "export default defineConfig({})\n"),
        "index.html": (
            "<!doctype html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"UTF-8\" />\n"
            "    <title>Vite + React + TS</title>\n  </head>\n  <body>\n"
            "    <div id=\"root\"></div>\n"
            "    <script type=\"module\" src=\"/src/main.tsx\"></script>\n"
            "  </body>\n</html>\n"),
        "src/main.tsx": (
            "import { App } from './App'\n\n"
            "const root = document.getElementById('root') as HTMLElement\n"
            "root.innerHTML = App()\n"),
        "src/App.tsx": (
            "import './App.css'\n\n"
            "const heroTitle: string = 'Vite + React'\n\n"
            "export function App(): string {\n"
            "  import('./About').then((page) => console.log(page.about()))\n"
            "  return `<h1>${heroTitle}</h1><p>Edit src/App.tsx and save to test HMR</p>`\n"
            "}\n"),
        "src/App.css": "h1 { font-size: 3.2em; line-height: 1.1; }\n",
        "src/About.tsx": (
            "export function about(): string {\n"
            "  return '<h2>About</h2><p>A small app, built by Vite.</p>'\n"
            "}\n"),
    })


BUILD_SCRIPT = """\
// Writes index.js and colors.js at the package root from source/.
const esbuild = require('esbuild')

esbuild.buildSync({
  entryPoints: ['source/index.js', 'source/colors.js'],
  outdir: '.',
  format: 'cjs',
  minify: true,
  logLevel: 'warning',
})
"""


def build_dir_package(root: Path) -> Path:
    """A package whose tracked build/ directory holds its build script; the build writes
    index.js and colors.js at the root (git-ignored), which package.json publishes."""
    return write(root, {
        ".gitignore": "node_modules\n/index.js\n/colors.js\n",
        "package.json": package(
            name="tiny-colors", main="index.js",
            exports={".": "./index.js", "./colors": "./colors.js"},
            files=["index.js", "colors.js"], scripts={"build": "node build/build.js"}),
        "build/build.js": BUILD_SCRIPT,
        "build/README.md": "The build script; run it with npm run build.\n",
        "source/index.js": (
            "const colors = require('./colors')\n\n"
            "function paint(name, text) {\n"
            "  const code = colors[name]\n"
            "  if (code === undefined) throw new Error('unknown color ' + name)\n"
            "  return '\\u001b[' + code + 'm' + text + '\\u001b[39m'\n"
            "}\n\n"
            "module.exports = { paint, red: (t) => paint('red', t), "
            "green: (t) => paint('green', t), blue: (t) => paint('blue', t) }\n"),
        "source/colors.js": "module.exports = { red: 31, green: 32, yellow: 33, blue: 34 }\n",
    })


def maps_library(root: Path) -> Path:
    """esbuild with --sourcemap (dist/index.js.map) and a type declaration copied into dist."""
    build = ("esbuild src/index.js --bundle --minify --sourcemap --format=esm "
             "--log-level=warning --outfile=dist/index.js && "
             "node -e \"require('fs').copyFileSync('src/index.d.ts', 'dist/index.d.ts')\"")
    return write(root, {
        ".gitignore": GITIGNORE,
        "package.json": package(name="mapped", type="module", main="dist/index.js",
                                types="dist/index.d.ts", scripts={"build": build}),
        "src/index.d.ts": "export declare function greet(name: string): string;\n",
        "src/index.js": (
            "/**\n * Greet someone by name.\n *\n * @param {string} name who to greet\n"
            " * @returns {string} the greeting\n */\n"
            "export function greet(name) {\n  return 'Hello, ' + name + '!'\n}\n"),
    })


def dropping_library(root: Path) -> Path:
    """dist/x.js and a minified ES5 dist/x.min.js (unpkg); the minifier step is allowed to
    fail (``|| true``), so modern syntax in src/x.js drops dist/x.min.js with exit 0."""
    build = ("esbuild src/x.js --bundle --format=iife --global-name=X --log-level=error "
             "--outfile=dist/x.js && (esbuild src/x.js --bundle --minify --target=es5 "
             "--format=iife --global-name=X --log-level=error --outfile=dist/x.min.js || true)")
    return write(root, {
        ".gitignore": GITIGNORE,
        "package.json": package(name="x", main="dist/x.js", unpkg="dist/x.min.js",
                                scripts={"build": build}),
        "src/x.js": ("var GREETING = 'hello'\n\n"
                     "export function greet(name) {\n  return GREETING + ' ' + name\n}\n"),
    })


DOCS_SCRIPT = """\
// Writes the bundle's size into README.md, as a docs step of a real build might.
const fs = require('fs')
const size = fs.statSync('dist/index.js').size
const readme = fs.readFileSync('README.md', 'utf8').replace(/Size: .*/, `Size: ${size} bytes`)
fs.writeFileSync('README.md', readme)
"""


def docs_step_library(root: Path) -> Path:
    """esbuild, then a docs step that rewrites the tracked README.md on every build."""
    build = ("esbuild src/index.js --bundle --minify --format=esm --log-level=warning "
             "--outfile=dist/index.js && node scripts/docs.cjs")
    return write(root, {
        ".gitignore": GITIGNORE,
        "package.json": package(name="documented", type="module", main="dist/index.js",
                                scripts={"build": build}),
        "README.md": "# documented\n\nSize: unknown\n",
        "scripts/docs.cjs": DOCS_SCRIPT,
        "src/index.js": "export function twice(x) {\n  return [x, x]\n}\n",
    })


def in_subdirectory(root: Path, builder, subdirectory: str = "packages/app") -> Path:
    """``builder``'s project at ``root/subdirectory`` of a repository whose root holds
    other things (a monorepo, a guide with initial/ and complete/); returns the project.
    Commit with :func:`commit` on ``root``."""
    write(root, {"README.md": "# monorepo\n", "packages/other/index.js": "module.exports = 1\n"})
    return builder(root / subdirectory)


# -- Java ---------------------------------------------------------------------------------

MVNW = """\
#!/bin/sh
# Stands in for the Maven wrapper: compiles src/main/java with javac into target/classes,
# incrementally (nothing when no source is newer than the last build) unless told "clean".
for arg in "$@"; do
  if [ "$arg" = clean ]; then rm -rf target; fi
done
mkdir -p target/classes
stale=$(find src/main/java -name '*.java' -newer target/.built 2>/dev/null)
if [ -f target/.built ] && [ -z "$stale" ]; then echo "[INFO] Nothing to compile"; exit 0; fi
javac -d target/classes $(find src/main/java -name '*.java') || exit 1
touch target/.built
echo compiled >> .compiles
echo "[INFO] BUILD SUCCESS"
"""

MAIN_JAVA = """\
package com.example;

public class Main {
    public static void main(String[] args) {
        System.out.println(Words.count(String.join(" ", args)));
    }
}
"""

WORDS_JAVA = """\
package com.example;

public class Words {
    static int count(String text) {
        return text.isBlank() ? 0 : text.trim().split("\\\\s+").length;
    }
}
"""


def maven_project(root: Path, *, wrapper: bool = True) -> Path:
    """pom.xml, the class with main, and (``wrapper``) the ``./mvnw`` stand-in."""
    files = {".gitignore": "target/\n.compiles\n", "pom.xml": POM,
             "src/main/java/com/example/Main.java": MAIN_JAVA,
             "src/main/java/com/example/Words.java": WORDS_JAVA}
    if wrapper:
        files["mvnw"] = MVNW
    return write(root, files)


def gradle_and_maven_project(root: Path, *, gradle_wrapper: bool = False) -> Path:
    """A Maven project that also has a Gradle build (a migration in progress)."""
    maven_project(root, wrapper=False)
    files = {"build.gradle": "plugins { id 'application' }\n"
                             "application { mainClass = 'com.example.Main' }\n"}
    if gradle_wrapper:
        files["gradlew"] = "#!/bin/sh\necho gradle wrapper \"$@\"\n"
    return write(root, files)


def executable_dir(directory: Path, *names: str, real: tuple[str, ...] = ("git",)) -> str:
    """A PATH of one directory: stand-ins that exit 0 for ``names``, links to the real
    programs in ``real``; so a test controls exactly which build tools are installed."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("#!/bin/sh\nexit 0\n")
        (directory / name).chmod(0o755)
    for name in real:
        found = shutil.which(name)
        if found and not (directory / name).exists():
            (directory / name).symlink_to(found)
    return str(directory)


def path_without(*programs: str) -> str:
    """This process's PATH without the directories that hold any of ``programs``."""
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if d and not any((Path(d) / p).exists() for p in programs))
