"""autoresearch.web_build and web_outputs: the entry a JavaScript build bundles from and the
outputs it names, read from bundler configs and build scripts of every common kind, among
the files git tracks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from real_projects import commit, write

from autoresearch import package_json, web_build, web_outputs
from autoresearch.project_files import list_files


def facts(root: Path, files: dict[str, str], *, git: bool = True) -> web_build.BuildFacts:
    write(root, files)
    if git:
        commit(root)
    project = list_files(root)
    return web_build.read_build(project, package_json.load(project))


def pkg(build: str | None = None, **fields) -> str:
    scripts = {"build": build} if build else {}
    return json.dumps({"name": "p", "scripts": scripts, **fields})


SOURCES = {"src/index.ts": "export {}\n", "src/lib.ts": "export {}\n",
           "src/cli.ts": "export {}\n", "lib/main.js": "export {}\n"}

CASES = {
    "vite library mode": ({
        "package.json": pkg("tsc && vite build"),
        "vite.config.ts": ("import { resolve } from 'path'\n// entry: 'src/index.ts'\n"
                           "export default { build: { outDir: 'public/lib', lib: {\n"
                           "  entry: resolve(__dirname, 'src/lib.ts'), formats: ['es'] } } }\n"),
    }, "src/lib.ts", "vite.config.ts entry", ["public/lib"], []),
    "vite app page": ({
        "package.json": pkg("vite build"),
        "index.html": '<script type="module" src="/src/cli.ts"></script>\n',
    }, "src/cli.ts", "index.html script", [], []),
    "vite multi-page input": ({
        "package.json": pkg("vite build"),
        "vite.config.js": ("export default { build: { rollupOptions: { input: {\n"
                           "  main: 'pages/home.html' } } } }\n"),
        "pages/home.html": '<script type="module" src="../src/lib.ts"></script>\n',
    }, "src/lib.ts", "pages/home.html script", [], []),
    "rollup config": ({
        "package.json": pkg("rollup -c"),
        "rollup.config.mjs": ("export default {\n  input: 'src/cli.ts',\n"
                              "  output: [{ file: 'dist/cli.cjs', format: 'cjs' }] }\n"),
    }, "src/cli.ts", "rollup.config.mjs input", [], ["dist/cli.cjs"]),
    "rollup command line": ({
        "package.json": pkg("rollup lib/main.js --file bundle/out.js --format iife"),
    }, "lib/main.js", "package.json scripts.build (rollup)", [], ["bundle/out.js"]),
    "webpack entry object": ({
        "package.json": pkg("webpack --mode production"),
        "webpack.config.js": ("const path = require('path')\nmodule.exports = {\n"
                              "  entry: { app: './lib/main.js' },\n"
                              "  output: { path: path.resolve(__dirname, 'public') } }\n"),
    }, "lib/main.js", "webpack.config.js entry", [], []),
    "tsup config": ({
        "package.json": pkg("tsup"),
        "tsup.config.ts": ("import { defineConfig } from 'tsup'\nexport default defineConfig({\n"
                           "  entry: ['src/lib.ts', 'src/cli.ts'], outDir: 'lib-dist' })\n"),
    }, "src/lib.ts", "tsup.config.ts entry", ["lib-dist"], []),
    "tsup in package.json": ({
        "package.json": pkg("tsup", tsup={"entry": ["src/cli.ts"]}),
    }, "src/cli.ts", "package.json tsup entry", [], []),
    "tsup arguments": ({
        "package.json": pkg("tsup src/cli.ts --format esm,cjs --dts"),
    }, "src/cli.ts", "package.json scripts.build (tsup)", [], []),
    "tsdown": ({
        "package.json": pkg("tsdown"),
        "tsdown.config.ts": "export default { entry: { main: './src/lib.ts' } }\n",
    }, "src/lib.ts", "tsdown.config.ts entry", [], []),
    "unbuild extensionless": ({
        "package.json": pkg("unbuild"),
        "build.config.ts": ("export default defineBuildConfig({\n"
                            "  entries: [{ builder: 'rollup', input: './src/cli' }] })\n"),
    }, "src/cli.ts", "build.config.ts entries", [], []),
    "microbundle -i": ({
        "package.json": pkg("microbundle -i src/lib.ts -o dist/tiny.js --no-compress"),
    }, "src/lib.ts", "package.json scripts.build (microbundle)", [], ["dist/tiny.js"]),
    "esbuild arguments": ({
        "package.json": pkg("esbuild lib/main.js --bundle --minify --outfile=www/app.js"),
    }, "lib/main.js", "package.json scripts.build (esbuild)", [], ["www/app.js"]),
    "esbuild build script": ({
        "package.json": pkg("node scripts/build.mjs"),
        "scripts/build.mjs": ("import * as esbuild from 'esbuild'\nawait esbuild.build({\n"
                              "  entryPoints: ['src/cli.ts'], outdir: 'bin', bundle: true })\n"),
    }, "src/cli.ts", "scripts/build.mjs entryPoints", ["bin"], []),
    "ncc": ({
        "package.json": pkg("ncc build lib/main.js -o action-dist"),
    }, "lib/main.js", "package.json scripts.build (ncc)", ["action-dist"], []),
    "parcel page": ({
        "package.json": pkg("parcel build web/index.html"),
        "web/index.html": '<script type="module" src="./app.ts"></script>\n',
        "web/app.ts": "export {}\n",
    }, "web/app.ts", "web/index.html script", [], []),
    "npm run chain through npx": ({
        "package.json": json.dumps({"name": "p", "scripts": {
            "build": "npm run clean && npm run build:js", "clean": "rm -rf dist",
            "build:js": "npx esbuild src/cli.ts --outdir=dist"}}),
    }, "src/cli.ts", "package.json scripts.build (esbuild)", [], []),
    "yarn launcher": ({
        "package.json": pkg("yarn rollup -c"),
        "rollup.config.js": "export default { input: 'src/lib.ts' }\n",
    }, "src/lib.ts", "rollup.config.js input", [], []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_entry_and_outputs_of_each_kind_of_build(case, tmp_path, git_identity):
    files, entry, where, dirs, outputs = CASES[case]
    found = facts(tmp_path / "p", {**SOURCES, **files})
    assert (found.entries[0].path, found.entries[0].where) == (entry, where)
    assert found.output_dirs == dirs
    assert found.output_files == outputs


def test_without_a_known_tool_in_the_script_the_config_files_are_read(tmp_path, git_identity):
    found = facts(tmp_path / "p", {**SOURCES, "package.json": pkg("make bundle"),
                                   "rollup.config.js": "export default { input: 'lib/main.js' }"})
    assert [e.path for e in found.entries] == ["lib/main.js"]


def test_an_entry_git_does_not_track_is_never_the_answer(tmp_path, git_identity):
    found = facts(tmp_path / "p", {
        ".gitignore": "generated/\n", **SOURCES, "generated/entry.ts": "export {}\n",
        "package.json": pkg("esbuild generated/entry.ts src/lib.ts --outdir=dist")})
    assert [e.path for e in found.entries] == ["src/lib.ts"]


def test_without_git_the_files_on_disk_count(tmp_path):
    found = facts(tmp_path / "p", {**SOURCES, "package.json": pkg("esbuild src/cli.ts")},
                  git=False)
    assert [e.path for e in found.entries] == ["src/cli.ts"]


def test_a_package_without_a_build_script_or_config_has_no_entry(tmp_path, git_identity):
    assert facts(tmp_path / "p", {**SOURCES, "package.json": pkg()}).entries == []


def test_the_output_plan_of_a_library(tmp_path, git_identity):
    write(tmp_path / "p", {**SOURCES, "package.json": json.dumps({
        "name": "lib", "main": "./dist/index.cjs", "module": "./dist/index.mjs",
        "types": "./dist/index.d.ts", "unpkg": "./umd/lib.min.js",
        "exports": {".": {"import": "./dist/index.mjs", "require": "./dist/index.cjs"},
                    "./cli": "./dist/cli.mjs", "./features/*": "./dist/features/*.mjs"},
        "files": ["dist", "umd", "!dist/test"],
        "scripts": {"build": "tsup src/index.ts src/cli.ts --out-dir dist"}})})
    plan = web_outputs.plan(list_files(commit(tmp_path / "p")))
    assert plan.locations == ("dist", "umd", "build", "out")  # what they hold is listed
    assert plan.required == ("dist/index.cjs", "dist/index.mjs", "umd/lib.min.js",
                             "dist/cli.mjs", "dist/index.d.ts", "**/*.html", "**/index.*",
                             "**/cli.*")  # not the subpath pattern: it names no one file
    assert plan.named_by == ("package.json main, module, unpkg, exports, types, files",
                             "package.json scripts.build")


def test_the_output_plan_of_a_package_writing_at_its_root(tmp_path, git_identity):
    write(tmp_path / "p", {"package.json": json.dumps({
        "name": "colors", "main": "index.js", "exports": {".": "./index.js",
                                                          "./colors": "./colors.js"},
        "files": ["index.js", "colors.js"], "scripts": {"build": "node build/build.js"}}),
        "build/build.js": "require('esbuild').buildSync({ entryPoints: ['src/a.js'] })\n",
        "src/a.js": "module.exports = 1\n"})
    plan = web_outputs.plan(list_files(commit(tmp_path / "p")))
    assert plan.locations == ("index.js", "colors.js", "dist", "build", "out")
    assert plan.required == ("index.js", "colors.js", "**/*.html", "**/a.*")
