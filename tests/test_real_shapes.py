"""Issue 14's shapes of real projects, built by the tests (tests/real_projects.py): what
`autoresearch config` chooses for each and why, and what the bundle metric measures after a
real build with bundlers from the npm registry."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest
import real_projects
from real_projects import commit, link_bundlers, npm_build, npm_modules  # noqa: F401

from autoresearch import emitted, metrics
from autoresearch.config import metric_spec, resolve

WEB = "recipe web (web.yaml)"
JAVA = "recipe java (java.yaml)"


@pytest.fixture(autouse=True)
def only_shipped_recipes(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTORESEARCH_RECIPES", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def built(project: Path) -> Path:
    """Run the project's build as a run would, in a tree without earlier outputs."""
    for directory in ("dist",):
        shutil.rmtree(project / directory, ignore_errors=True)
    done = npm_build(project)
    assert done.returncode == 0, done.stdout + done.stderr
    return project


def measured(project: Path, **overrides) -> metrics.MetricReading:
    config = resolve(project, overrides)
    reading = metrics.read(metric_spec(config), project_dir=project,
                           log_path=project / "run.log", duration_s=1.0)
    assert reading.error is None, reading.error
    return reading


def gzipped_kb(project: Path, *paths: str) -> float:
    return sum(len(gzip.compress((project / p).read_bytes(), 9, mtime=0)) for p in paths) / 1024


# -- item 1: a library whose package.json names only dist/ files --------------------------

def test_esm_library_target_is_the_bundler_entry_before_and_after_a_build(
        tmp_path, git_identity, show_config, npm_modules):  # noqa: F811
    project = commit(real_projects.esm_library(tmp_path / "lib"))
    link_bundlers(project, npm_modules)
    before = show_config(project)
    assert before["target_file"] == ("src/lib.ts",
                                     f"{WEB}: the build's entry (vite.config.js entry)")
    assert before["#defaults from"] == ("files tracked by git", "")
    assert before["metric_source"] == ("emitted", WEB)
    assert before["metric_file"] == (
        "dist, build, out", f"{WEB}: named by package.json main, module, files, plus "
                            "dist,build,out")
    assert before["size_compression"] == ("gzip", WEB)
    assert before["metric_exclude"] == ("*.map, *.d.ts, *.d.mts, *.d.cts", "default")
    assert before["required_outputs"] == (
        "dist/tiny-lib.umd.cjs, dist/tiny-lib.js, **/*.html, **/lib.*",
        f"{WEB}: the files package.json main, module, files name, HTML pages, chunks named "
        "after src/lib.ts")

    built(project)
    assert sorted(p.name for p in (project / "dist").iterdir()) == ["tiny-lib.js",
                                                                    "tiny-lib.umd.cjs"]
    assert show_config(project) == before  # a build changes no default


def test_a_library_compiled_by_plain_tsc_targets_its_source_under_root_dir(
        tmp_path, git_identity, show_config):
    project = commit(real_projects.tsc_library(tmp_path / "fetchy"))
    shown = show_config(project)
    assert shown["target_file"] == (
        "source/index.ts", f"{WEB}: the build's entry (tsconfig.dist.json rootDir (tsc))")
    assert shown["metric_file"][0] == "distribution, dist, build, out"
    assert "tsconfig.dist.json outDir" in shown["metric_file"][1]


def test_esm_library_metric_is_the_gzipped_size_of_what_the_build_emitted(
        tmp_path, git_identity, npm_modules):  # noqa: F811
    project = built(link_bundlers(commit(real_projects.esm_library(tmp_path / "lib")),
                                  npm_modules))
    reading = measured(project)
    assert [o.path for o in reading.outputs] == ["dist/tiny-lib.js", "dist/tiny-lib.umd.cjs"]
    assert reading.value == pytest.approx(gzipped_kb(project, "dist/tiny-lib.js",
                                                     "dist/tiny-lib.umd.cjs"))
    raw = measured(project, size_compression="none")
    assert raw.value * 1024 == sum(o.raw_size for o in reading.outputs) > reading.value * 1024


def test_a_library_that_is_no_repository_yet_uses_its_files_on_disk(tmp_path, show_config,
                                                                    npm_modules):  # noqa: F811
    project = link_bundlers(real_projects.esm_library(tmp_path / "lib"), npm_modules)
    built(project)
    shown = show_config(project)
    assert shown["target_file"][0] == "src/lib.ts"
    assert shown["#defaults from"] == ("files on disk (no git repository)", "")


# -- item 2: the Vite React TypeScript layout ---------------------------------------------

def test_vite_react_app_works_without_configuration(tmp_path, git_identity, show_config,
                                                    npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.vite_react_app(tmp_path / "app")),
                            npm_modules)
    shown = show_config(project)
    assert shown["target_file"] == ("src/main.tsx",
                                    f"{WEB}: the build's entry (index.html script)")
    assert shown["run_command"] == ("npm run build", WEB)
    assert shown["required_outputs"][0] == "**/*.html, **/main.*, **/index.*"

    outputs = [o.path for o in measured(built(project)).outputs]
    names = [emitted.without_hash(p) for p in outputs]
    assert names == ["dist/assets/About.js", "dist/assets/index.css", "dist/assets/index.js",
                     "dist/index.html"]
    assert all(p != n for p, n in zip(outputs[:3], names[:3]))  # each has a content hash


def test_vite_candidates_are_compared_by_name_without_hash(tmp_path, git_identity,
                                                           npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.vite_react_app(tmp_path / "app")),
                            npm_modules)
    required = resolve(project).required_outputs
    best = [o.path for o in measured(built(project)).outputs]
    app = project / "src" / "App.tsx"

    app.write_text(app.read_text().replace("Edit src/App.tsx", "Change src/App.tsx"))
    renamed = [o.path for o in measured(built(project)).outputs]
    assert set(renamed) != set(best)  # new content, new hash
    assert emitted.missing_outputs(best, renamed, required) == []

    app.write_text(app.read_text().replace(
        "  import('./About').then((page) => console.log(page.about()))\n", ""))
    without_lazy_page = [o.path for o in measured(built(project)).outputs]
    assert not any("About" in p for p in without_lazy_page)
    assert emitted.missing_outputs(best, without_lazy_page, required) == []

    app.write_text(app.read_text().replace("import './App.css'\n", ""))
    without_css = [o.path for o in measured(built(project)).outputs]
    css = [p for p in best if p.endswith(".css")]
    assert emitted.missing_outputs(best, without_css, required) == css
    assert emitted.missing_error(css) == f"output missing: {css[0]}"


# -- item 3: a tracked build/ directory, outputs written at the root ------------------------

def test_build_directory_package_counts_only_what_the_build_wrote(tmp_path, git_identity,
                                                                  show_config,
                                                                  npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.build_dir_package(tmp_path / "colors")),
                            npm_modules)
    shown = show_config(project)
    assert shown["target_file"] == (
        "source/index.js", f"{WEB}: the build's entry (build/build.js entryPoints)")
    assert shown["metric_file"][0] == "index.js, colors.js, dist, build, out"
    assert shown["required_outputs"][0] == "index.js, colors.js, **/*.html, **/index.*, **/colors.*"

    reading = measured(built(project))
    assert [o.path for o in reading.outputs] == ["colors.js", "index.js"]  # not build/build.js
    assert reading.value == pytest.approx(gzipped_kb(project, "colors.js", "index.js"))


def test_a_build_that_emits_nothing_new_is_an_error_not_the_size_of_tracked_files(
        tmp_path, git_identity):
    project = commit(real_projects.build_dir_package(tmp_path / "colors"))
    config = resolve(project)
    reading = metrics.read(metric_spec(config), project_dir=project,
                           log_path=project / "run.log", duration_s=1.0)
    assert reading.value is None and reading.outputs == ()
    assert reading.error == ("the run emitted no file under index.js, colors.js, dist, build, "
                             "out (files tracked by git are not output)")


# -- item 4: source maps and type declarations --------------------------------------------

def test_source_maps_and_declarations_are_not_counted(tmp_path, git_identity,
                                                      npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.maps_library(tmp_path / "mapped")),
                            npm_modules)
    built(project)
    assert sorted(p.name for p in (project / "dist").iterdir()) == [
        "index.d.ts", "index.js", "index.js.map"]
    with_docs = measured(project)
    assert [o.path for o in with_docs.outputs] == ["dist/index.js"]
    map_before = (project / "dist" / "index.js.map").read_bytes()
    with_maps = measured(project, metric_exclude="none")
    assert [o.path for o in with_maps.outputs] == ["dist/index.d.ts", "dist/index.js",
                                                   "dist/index.js.map"]

    source = project / "src" / "index.js"
    source.write_text(source.read_text().split(" */\n", 1)[1])  # delete the doc comment
    built(project)
    assert (project / "dist" / "index.js.map").read_bytes() != map_before
    assert measured(project).value == with_docs.value  # byte-identical JavaScript
    assert measured(project, metric_exclude="none").value < with_maps.value


# -- item 5: an expected output that goes missing -------------------------------------------

def test_a_dropped_output_is_found_though_the_build_exits_0(tmp_path, git_identity,
                                                            npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.dropping_library(tmp_path / "x")),
                            npm_modules)
    required = resolve(project).required_outputs
    assert required[:2] == ("dist/x.js", "dist/x.min.js")
    best = measured(built(project))
    assert [o.path for o in best.outputs] == ["dist/x.js", "dist/x.min.js"]

    source = project / "src" / "x.js"
    source.write_text(source.read_text().replace("var GREETING", "const GREETING"))
    candidate = measured(built(project))  # the minifier failed; npm run build exited 0
    assert [o.path for o in candidate.outputs] == ["dist/x.js"]
    assert candidate.value < best.value  # what the loop used to keep as an improvement
    missing = emitted.missing_outputs([o.path for o in best.outputs],
                                      [o.path for o in candidate.outputs], required)
    assert emitted.missing_error(missing) == "output missing: dist/x.min.js"


# -- items 6 and 7: a docs step rewriting a tracked file; a project in a subdirectory --------

def test_a_rewritten_tracked_file_is_never_output(tmp_path, git_identity, git,
                                                  npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.docs_step_library(tmp_path / "doc")),
                            npm_modules)
    reading = measured(built(project))
    assert git(project, "status", "--porcelain") == "M README.md"  # for the loop to revert
    assert [o.path for o in reading.outputs] == ["dist/index.js"]


def test_a_project_in_a_subdirectory_has_project_relative_defaults(tmp_path, git_identity,
                                                                   show_config, git):
    project = real_projects.in_subdirectory(tmp_path / "mono", real_projects.maps_library)
    commit(tmp_path / "mono")
    shown = show_config(project)
    assert shown["target_file"][0] == "src/index.js"
    assert shown["#defaults from"] == ("files tracked by git", "")
    assert shown["metric_file"][0] == "dist, build, out"


# -- item 9: Java builds --------------------------------------------------------------------

def test_maven_wrapper_runs_clean_builds(tmp_path, git_identity, show_config):
    if shutil.which("javac") is None:
        pytest.skip("javac is not installed")
    project = commit(real_projects.maven_project(tmp_path / "wordcount"))
    shown = show_config(project)
    assert shown["target_file"] == ("src/main/java/com/example/Main.java", JAVA)
    command, origin = shown["run_command"]
    assert command == "./mvnw -q clean package -DskipTests"
    assert origin.startswith(f"{JAVA}: the Maven wrapper mvnw is present")
    compiles = project / ".compiles"
    for _ in range(2):  # as the baseline and a calibration run would
        assert subprocess.run(command, shell=True, cwd=project).returncode == 0
    assert compiles.read_text().splitlines() == ["compiled", "compiled"]
    # The incremental build the recipe used to run compiles nothing the second time.
    subprocess.run("./mvnw -q package", shell=True, cwd=project, check=True)
    assert len(compiles.read_text().splitlines()) == 2


def test_gradle_and_maven_files_the_choice_and_why(tmp_path, git_identity, show_config):
    project = commit(real_projects.gradle_and_maven_project(tmp_path / "both"))
    only_mvn = real_projects.executable_dir(tmp_path / "bin-mvn", "mvn")
    shown = show_config(project, env={"PATH": only_mvn})
    assert shown["run_command"] == (
        "mvn -q clean package -DskipTests",
        f"{JAVA}: pom.xml is present (Maven); 'gradle clean build -x test --no-build-cache' "
        "skipped: gradle is not installed")
    both = real_projects.executable_dir(tmp_path / "bin-both", "mvn", "gradle")
    assert show_config(project, env={"PATH": both})["run_command"] == (
        "gradle clean build -x test --no-build-cache",
        f"{JAVA}: a Gradle build file is present and gradle is installed, chosen over "
        "'mvn -q clean package -DskipTests' (pom.xml is present (Maven))")


def test_a_wrapper_wins_over_the_other_build_file(tmp_path, git_identity, show_config):
    project = commit(real_projects.gradle_and_maven_project(tmp_path / "both",
                                                            gradle_wrapper=True))
    only_mvn = real_projects.executable_dir(tmp_path / "bin-mvn", "mvn")
    assert show_config(project, env={"PATH": only_mvn})["run_command"] == (
        "./gradlew clean build -x test --no-build-cache",
        f"{JAVA}: the Gradle wrapper gradlew is present, chosen over "
        "'mvn -q clean package -DskipTests' (pom.xml is present (Maven))")
