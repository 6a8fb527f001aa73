"""autoresearch.config: the resolved config of each project type, every value's origin,
the precedence of the sources, and a one-line error (exit 2) for every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoresearch.cli import main
from autoresearch.config import resolve
from autoresearch.recipes import shipped_dir

SHIPPED = shipped_dir()


def recipe_header(name: str, matched: str = "") -> str:
    return f"{name} ({SHIPPED / f'{name}.yaml'})" + (f"; matched: {matched}" if matched else "")


def origin_of(name: str) -> str:
    return f"recipe {name} ({name}.yaml)"


# -- each project type ------------------------------------------------------------------


def test_ml_project(ml_project, show_config):
    shown = show_config(ml_project())
    ml = origin_of("ml")
    assert shown["#type"] == (recipe_header("ml"), "")
    assert shown["target_file"] == ("train.py", ml)
    assert shown["run_command"] == ("python train.py", ml)
    assert shown["metric_name"] == ("val_bpb", ml)
    assert shown["metric_source"] == ("regex", ml)
    assert shown["metric_direction"] == ("lower_is_better", ml)
    assert shown["readonly_files"] == ("prepare.py", ml)
    assert shown["evaluation_files"] == ("prepare.py", ml)
    assert shown["time_budget"] == ("300", "default")
    assert shown["timeout"] == ("600", "2 x time_budget")
    assert shown["agent"] == ("claude", "default")


def test_detect_is_an_alias_of_config(ml_project, run_cli):
    project = ml_project()
    assert run_cli(["detect"], project) == run_cli(["config"], project)


def test_ml_project_with_uv_lock_runs_through_uv_when_uv_is_installed(ml_project, show_config,
                                                                     tmp_path):
    project = ml_project()
    (project / "uv.lock").write_text("version = 1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "uv").chmod(0o755)
    without_uv = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                 if d and not (Path(d) / "uv").exists())

    with_uv = show_config(project, env={"PATH": f"{bin_dir}{os.pathsep}{without_uv}"})
    assert with_uv["run_command"] == (
        "uv run train.py", f"{origin_of('ml')}: uv.lock is present and uv is installed")
    assert show_config(project, env={"PATH": without_uv})["run_command"] == (
        "python train.py", f"{origin_of('ml')}: 'uv run train.py' skipped: uv is not installed")


def test_web_project_target_comes_from_package_json_source(web_project, show_config):
    shown = show_config(web_project(source="src/app.js"))
    web = origin_of("web")
    assert shown["#type"] == (recipe_header("web"), "")
    assert shown["target_file"] == ("src/app.js", web)  # "source" wins over "main"
    assert shown["run_command"] == ("npm run build", web)
    assert shown["metric_name"] == ("bundle_size_kb", web)
    assert shown["metric_source"] == ("emitted", web)
    assert shown["metric_file"] == ("dist, build, out",
                                    f"{web}: named by package.json main, plus dist,build,out")
    assert shown["metric_unit"] == ("KB", web)
    assert shown["size_compression"] == ("gzip", web)
    assert shown["required_outputs"] == ("dist/index.js, **/*.html",
                                         f"{web}: the files package.json main name, HTML pages")
    assert shown["readonly_files"] == ("package.json, package-lock.json", web)


def test_web_project_target_falls_back_to_main_and_output_to_package_json(tmp_path, show_config):
    project = tmp_path / "web"
    project.mkdir()
    (project / "package.json").write_text(
        '{"name": "w", "main": "lib/entry.js", "autoresearch": {"output": "public"}}\n')
    (project / "lib").mkdir()
    (project / "lib" / "entry.js").write_text("module.exports = 1;\n")
    shown = show_config(project)
    assert shown["target_file"] == ("lib/entry.js", origin_of("web"))
    assert shown["metric_file"] == ("public", f"{origin_of('web')}: package.json "
                                              "autoresearch.output")


def test_flutter_project(flutter_project, show_config):
    shown = show_config(flutter_project())
    flutter = origin_of("flutter")
    assert shown["#type"] == (recipe_header("flutter"), "")
    assert shown["target_file"] == ("lib/main.dart", flutter)
    assert shown["run_command"] == ("flutter build apk --release", flutter)
    assert shown["metric_name"] == ("apk_size_mb", flutter)
    assert shown["metric_source"] == ("size", flutter)
    assert shown["metric_file"] == ("build/app/outputs/flutter-apk/app-release.apk", flutter)
    assert shown["metric_unit"] == ("MB", flutter)
    assert shown["readonly_files"] == ("pubspec.yaml, pubspec.lock", flutter)


def test_maven_project_target_is_the_class_with_main(java_project, show_config):
    shown = show_config(java_project())
    java = origin_of("java")
    assert shown["#type"] == (recipe_header("java"), "")
    assert shown["target_file"] == ("src/main/java/com/example/App.java", java)
    assert shown["run_command"] == ("mvn -q clean package -DskipTests",
                                    f"{java}: pom.xml is present (Maven)")
    assert shown["metric_name"] == ("build_time_s", java)
    assert shown["metric_source"] == ("time", java)
    assert shown["metric_unit"] == ("s", java)


GRADLE = "gradle clean build -x test --no-build-cache"


@pytest.mark.parametrize(("options", "target", "command", "why"), [
    ({"build": "gradle", "gradlew": True}, "src/main/java/com/example/App.java",
     "./gradlew clean build -x test --no-build-cache", "the Gradle wrapper gradlew is present"),
    ({"build": "gradle"}, "src/main/java/com/example/App.java", GRADLE,
     "a Gradle build file is present, but gradle is not installed"),
    ({"build": "gradle-kts", "kotlin": True, "gradlew": True},
     "src/main/kotlin/com/example/Main.kt", "./gradlew clean build -x test --no-build-cache",
     "the Gradle wrapper gradlew is present"),
], ids=["gradle-wrapper", "gradle", "kotlin-kts-wrapper"])
def test_gradle_projects(java_project, show_config, options, target, command, why, tmp_path):
    from real_projects import executable_dir

    no_gradle = executable_dir(tmp_path / "bin", real=("git",))
    shown = show_config(java_project(**options), env={"PATH": no_gradle})
    assert shown["#type"] == (recipe_header("java"), "")
    assert shown["target_file"] == (target, origin_of("java"))
    assert shown["run_command"] == (command, f"{origin_of('java')}: {why}")


def test_custom_project_from_the_seeds_claude_md_section(custom_project, show_config):
    shown = show_config(custom_project())
    assert shown["#type"] == (recipe_header("custom"), "")
    assert shown["target_file"] == ("src/model.py", "CLAUDE.md:6")
    assert shown["run_command"] == ("python train.py --epochs 5", "CLAUDE.md:7")
    assert shown["metric_name"] == ("accuracy", "CLAUDE.md:8")
    assert shown["metric_parse"] == (
        """grep "accuracy:" run.log | tail -1 | awk '{print $2}'""", "CLAUDE.md:9")
    assert shown["metric_source"] == ("command", "CLAUDE.md:9")
    assert shown["metric_direction"] == ("higher_is_better", "CLAUDE.md:10")
    assert shown["time_budget"] == ("600", "CLAUDE.md:11")
    assert shown["readonly_files"] == ("data/dataset.py, config.yaml", "CLAUDE.md:12")
    assert shown["timeout"] == ("1200", "2 x time_budget")


def test_custom_project_from_autoresearch_yaml(tmp_path, show_config):
    project = tmp_path / "bench"
    project.mkdir()
    (project / "solver.c").write_text("int main(void) { return 0; }\n")
    (project / "autoresearch.yaml").write_text(
        "target_file: solver.c\n"
        "run_command: make bench\n"
        "metric_name: ops_per_s\n"
        "metric_regex: 'ops/s: ([0-9.]+)'\n"
        "metric_direction: higher_is_better\n")
    shown = show_config(project)
    assert shown["#type"] == (recipe_header("custom"), "")
    assert shown["target_file"] == ("solver.c", "autoresearch.yaml:1")
    assert shown["metric_regex"] == ("ops/s: ([0-9.]+)", "autoresearch.yaml:4")
    assert shown["metric_source"] == ("regex", "autoresearch.yaml:4")


def test_seed_readonly_files_syntax_is_comma_separated(custom_project):
    project = custom_project()
    assert resolve(project).readonly_files == ("data/dataset.py", "config.yaml")
    (project / "CLAUDE.md").unlink()
    (project / "autoresearch.yaml").write_text(
        "target_file: src/model.py\nrun_command: python train.py\nmetric_name: accuracy\n"
        "metric_parse: tail -1 run.log\nreadonly_files: [data/dataset.py, ./config.yaml]\n")
    assert resolve(project).readonly_files == ("data/dataset.py", "config.yaml")


# -- precedence: recipe < CLAUDE.md < autoresearch.yaml < flags ---------------------------


def test_the_measurement_keys(ml_project, show_config, tmp_path):
    project = ml_project()
    shown = show_config(project)
    assert shown["compare"] == ("single", "default")
    assert shown["remeasure_every"] == ("0", "default")
    assert shown["holdout_direction"] == ("lower_is_better", "metric_direction")
    sealed = tmp_path / "sealed"
    (project / "autoresearch.yaml").write_text(
        "compare: paired\nrepeats: 8\nremeasure_every: 5\nholdout_command: sh holdout.sh\n"
        f"holdout_files: [./data/hidden, {sealed}]\nholdout_every: 3\n"
        "holdout_tolerance: 0.01\nholdout_direction: higher_is_better\n")
    shown = show_config(project)
    assert shown["compare"] == ("paired", "autoresearch.yaml:1")
    assert shown["holdout_files"] == (f"data/hidden, {sealed}", "autoresearch.yaml:5")
    assert shown["holdout_tolerance"] == ("0.01", "autoresearch.yaml:7")
    assert shown["holdout_direction"] == ("higher_is_better", "autoresearch.yaml:8")


def test_later_sources_win(ml_project, show_config):
    project = ml_project()
    (project / "CLAUDE.md").write_text(
        "# Project\n\n## autoresearch\n"
        "- time_budget: 100\n"               # line 4
        "- metric_direction: higher_is_better\n"
        "- repeats: 2\n"
        "- run_command: python train.py --quick\n")
    (project / "autoresearch.yaml").write_text("time_budget: 200\nrepeats: 3\n")

    shown = show_config(project)
    assert shown["target_file"] == ("train.py", origin_of("ml"))
    assert shown["metric_direction"] == ("higher_is_better", "CLAUDE.md:5")
    assert shown["run_command"] == ("python train.py --quick", "CLAUDE.md:7")
    assert shown["time_budget"] == ("200", "autoresearch.yaml:1")
    assert shown["repeats"] == ("3", "autoresearch.yaml:2")
    assert shown["timeout"] == ("400", "2 x time_budget")

    shown = show_config(project, "--time-budget", "5m", "--metric-direction=lower_is_better")
    assert shown["time_budget"] == ("300", "--time-budget")
    assert shown["metric_direction"] == ("lower_is_better", "--metric-direction")
    assert shown["repeats"] == ("3", "autoresearch.yaml:2")


def test_a_project_matching_two_recipes_takes_the_higher_priority(flutter_project, web_project,
                                                                 show_config):
    project = flutter_project()
    web_project(project)  # a package.json next to pubspec.yaml
    shown = show_config(project)
    assert shown["#type"] == (recipe_header("flutter", "flutter, web"), "")
    assert shown["target_file"] == ("lib/main.dart", origin_of("flutter"))

    shown = show_config(project, "--type", "web")
    assert shown["#type"] == (recipe_header("web", "flutter, web"), "")
    assert shown["target_file"] == ("src/index.js", origin_of("web"))
    assert shown["run_command"] == ("npm run build", origin_of("web"))


def test_a_complete_claude_md_section_wins_over_a_detected_recipe(ml_project, custom_project,
                                                                 show_config):
    project = custom_project(ml_project())  # train.py + prepare.py, and the seed's section
    shown = show_config(project)
    assert shown["#type"] == (recipe_header("custom", "custom, ml"), "")
    assert shown["target_file"] == ("src/model.py", "CLAUDE.md:6")
    assert shown["evaluation_files"][0] == ""  # no prepare.py protection from the ml recipe


# -- bad input: one line, exit 2, naming file, line, key, value and what is accepted -------


def cli(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


CLAUDE = "# Project\n\n## autoresearch\n"  # a section whose first bullet is on line 4

BAD_INPUTS = {
    "unknown key in autoresearch.yaml": (
        {"autoresearch.yaml": "metric_directon: higher_is_better\n"}, [],
        "{p}/autoresearch.yaml:1: unknown key 'metric_directon'; did you mean "
        "'metric_direction'? see the config reference in README.md"),
    "unknown key in CLAUDE.md": (
        {"CLAUDE.md": CLAUDE + "- time_budgte: 60\n"}, [],
        "{p}/CLAUDE.md:4: unknown key 'time_budgte'; did you mean 'time_budget'? "
        "see the config reference in README.md"),
    "bad direction": (
        {"CLAUDE.md": CLAUDE + "- metric_direction: up\n"}, [],
        "{p}/CLAUDE.md:4: metric_direction = 'up' is not accepted; "
        "accepted: lower_is_better, higher_is_better"),
    "misspelt direction": (
        {"autoresearch.yaml": "metric_direction: higher_is_beter\n"}, [],
        "{p}/autoresearch.yaml:1: metric_direction = 'higher_is_beter' is not accepted; "
        "did you mean 'higher_is_better'? accepted: lower_is_better, higher_is_better"),
    "negative budget": (
        {"autoresearch.yaml": "time_budget: -5\n"}, [],
        "{p}/autoresearch.yaml:1: time_budget = '-5' must be greater than 0"),
    "non-numeric budget": (
        {"CLAUDE.md": CLAUDE + "- time_budget: soon\n"}, [],
        "{p}/CLAUDE.md:4: time_budget = 'soon' must be seconds or a duration like "
        "90s, 5m, 1h30m"),
    "missing target file": (
        {"autoresearch.yaml": "repeats: 1\ntarget_file: src/nope.py\n"}, [],
        "{p}/autoresearch.yaml:2: target_file 'src/nope.py' does not exist in {p}; "
        "name an existing file"),
    "target outside the project": (
        {"autoresearch.yaml": "target_file: ../train.py\n"}, [],
        "{p}/autoresearch.yaml:1: target_file = '../train.py' must be paths inside the "
        "project (relative, without '..')"),
    "target that is also readonly": (
        {"autoresearch.yaml": "readonly_files: prepare.py, train.py\n"}, [],
        "{p}/autoresearch.yaml:1: 'train.py' is both the target_file and in readonly_files; "
        "the agent's file cannot be read-only"),
    "YAML syntax error": (
        {"autoresearch.yaml": "repeats: 2\nreadonly_files: [a.py, b.py\n"}, [],
        "{p}/autoresearch.yaml:3: YAML error: expected ',' or ']', but got '<stream end>'"),
    "tab indentation": (
        {"autoresearch.yaml": "metric_name: x\n\trepeats: 2\n"}, [],
        "{p}/autoresearch.yaml:2: YAML error: a tab character; indent YAML with spaces"),
    "duplicate YAML key": (
        {"autoresearch.yaml": "repeats: 2\ntime_budget: 60\nrepeats: 3\n"}, [],
        "{p}/autoresearch.yaml:3: YAML error: duplicate key: repeats"),
    "YAML that is not a mapping": (
        {"autoresearch.yaml": "- repeats: 2\n"}, [],
        "{p}/autoresearch.yaml:1: expected a mapping of 'key: value' lines at the top level"),
    "key without a value": (
        {"autoresearch.yaml": "repeats:\n"}, [],
        "{p}/autoresearch.yaml:1: repeats has no value; accepted: a whole number >= 1"),
    "duplicate key in CLAUDE.md": (
        {"CLAUDE.md": CLAUDE + "- repeats: 2\n- time_budget: 60\n- repeats: 3\n"}, [],
        "{p}/CLAUDE.md:6: key 'repeats' is set twice in the ## autoresearch section "
        "(first on line 4); keep one"),
    "empty CLAUDE.md section": (
        {"CLAUDE.md": CLAUDE + "\nNothing yet.\n\n## Next\n- repeats: 2\n"}, [],
        "{p}/CLAUDE.md:3: the ## autoresearch section has no '- key: value' lines; "
        "add e.g. '- run_command: python train.py' or remove the heading"),
    "bad bullet line in CLAUDE.md": (
        {"CLAUDE.md": CLAUDE + "- repeats: 2\n- time budget 60\n"}, [],
        "{p}/CLAUDE.md:5: expected '- key: value' in the ## autoresearch section, "
        "got '- time budget 60'"),
    "metric_source command without metric_parse": (
        {"autoresearch.yaml": "metric_source: command\n"}, [],
        "{p}/autoresearch.yaml:1: metric_source 'command' needs metric_parse; "
        "set it in CLAUDE.md or autoresearch.yaml"),
    "bad regex": (
        {"autoresearch.yaml": "metric_regex: 'val_bpb: (['\n"}, [],
        "{p}/autoresearch.yaml:1: metric_regex: 'val_bpb: ([' is not a valid regular "
        "expression (unterminated character set at position 10); write a Python regex with "
        "one group around the number"),
    "regex without a group": (
        {}, ["--metric-regex", r"val_bpb: \d+"],
        r"--metric-regex: metric_regex: 'val_bpb: \\d+' has 0 capture groups; it needs "
        "exactly one, around the number (use (?:...) for the others)"),
    "bad jmespath": (
        {"autoresearch.yaml": "metric_source: json\nmetric_file: m.json\n"
                              "metric_jmespath: 'eval..loss'\n"}, [],
        "{p}/autoresearch.yaml:3: metric_jmespath: 'eval..loss' is not a valid JMESPath "
        "expression (Expecting: ['quoted_identifier', 'unquoted_identifier', 'lbracket', "
        "'lbrace'], got: dot: Parse error at column 5, token \".\" (DOT)); write one such as "
        "'eval.loss' or 'results[-1].accuracy'"),
    "json source without jmespath": (
        {"autoresearch.yaml": "metric_source: json\nmetric_file: m.json\n"}, [],
        "{p}/autoresearch.yaml:1: metric_source 'json' needs metric_jmespath"),
    "bad min_delta": (
        {"autoresearch.yaml": "min_delta: five\n"}, [],
        "{p}/autoresearch.yaml:1: min_delta = 'five' must be a number >= 0, optionally "
        "with % (e.g. 0.01 or 0.5%)"),
    "negative min_delta": (
        {}, ["--min-delta", "-0.1"],
        "--min-delta: min_delta = '-0.1' must be a number >= 0, optionally with % "
        "(e.g. 0.01 or 0.5%)"),
    "repeats 0": (
        {}, ["--repeats", "0"], "--repeats: repeats = '0' must be at least 1"),
    "repeats not whole": (
        {"CLAUDE.md": CLAUDE + "- repeats: 2.5\n"}, [],
        "{p}/CLAUDE.md:4: repeats = '2.5' must be a whole number"),
    "unknown --type": (
        {}, ["--type", "fluter"],
        "--type: type 'fluter' is not a known project type; did you mean 'flutter'? "
        "accepted: custom, flutter, java, ml, web"),
    "unknown type in autoresearch.yaml": (
        {"autoresearch.yaml": "type: elixir\n"}, [],
        "{p}/autoresearch.yaml:1: type 'elixir' is not a known project type; "
        "accepted: custom, flutter, java, ml, web"),
    "unknown agent": (
        {}, ["--agent", "claud"],
        "--agent: agent = 'claud' is not accepted; did you mean 'claude'? "
        "accepted: claude, codex, gemini, aider, opencode, command, tune, "
        "or one of the first six + tune (e.g. claude+tune)"),
    "tune_share above 1": (
        {}, ["--tune-share", "1.5"], "--tune-share: tune_share = '1.5' must be a number from 0 to 1"),
    "hybrid of the tuner with itself": (
        {"autoresearch.yaml": "agent: tune+tune\n"}, [],
        "{p}/autoresearch.yaml:1: agent = 'tune+tune' is not accepted; did you mean "
        "'claude+tune'? accepted: claude, codex, gemini, aider, opencode, command, tune, "
        "or one of the first six + tune (e.g. claude+tune)"),
    "pivot_after 0": (
        {}, ["--pivot-after", "0"], "--pivot-after: pivot_after = '0' must be at least 1"),
    "bad near_miss": (
        {"autoresearch.yaml": "near_miss: close\n"}, [],
        "{p}/autoresearch.yaml:1: near_miss = 'close' must be a number >= 0, optionally "
        "with % (e.g. 0.01 or 0.5%)"),
    "agent command without agent_command": (
        {"autoresearch.yaml": "agent: command\n"}, [],
        "{p}/autoresearch.yaml:1: agent 'command' needs agent_command "
        "(the command line to run)"),
    "timeout shorter than time_budget": (
        {"CLAUDE.md": CLAUDE + "- time_budget: 10m\n- timeout: 5m\n"}, [],
        "{p}/CLAUDE.md:5: timeout (300 s) is shorter than time_budget (600 s); "
        "raise it or leave it unset"),
    "bad boolean": (
        {}, ["--agent-skip-permissions=yes"],
        "option --agent-skip-permissions takes no value"),
    "compare paired with one repeat": (
        {"autoresearch.yaml": "compare: paired\n"}, [],
        "{p}/autoresearch.yaml:1: compare: paired needs repeats from 3 to 50 (pairs of runs), "
        "not 1; set repeats"),
    "misspelt compare": (
        {}, ["--compare", "pairs"],
        "--compare: compare = 'pairs' is not accepted; did you mean 'paired'? "
        "accepted: single, paired"),
    "holdout key without holdout_command": (
        {"autoresearch.yaml": "repeats: 2\nholdout_every: 2\n"}, [],
        "{p}/autoresearch.yaml:2: holdout_every needs holdout_command (the command that "
        "prints the holdout metric); set it or remove holdout_every"),
    "holdout file above the project": (
        {}, ["--holdout-files", "data/x, ../secret"],
        "--holdout-files: holdout_files = 'data/x, ../secret' must be paths inside the "
        "project (relative, without '..') or absolute paths"),
    "target in holdout_files": (
        {"autoresearch.yaml": "holdout_command: echo 1\nholdout_files: train.py\n"}, [],
        "{p}/autoresearch.yaml:2: 'train.py' is both the target_file and in holdout_files; "
        "the agent's file cannot be sealed"),
    "negative remeasure_every": (
        {}, ["--remeasure-every", "-1"],
        "--remeasure-every: remeasure_every = '-1' must be at least 0"),
    "negative holdout_tolerance": (
        {"CLAUDE.md": CLAUDE + "- holdout_tolerance: -0.5\n"}, [],
        "{p}/CLAUDE.md:4: holdout_tolerance = '-0.5' must be at least 0"),
    "unknown CLI option": (
        {}, ["--time-budgte", "60"],
        "unknown option '--time-budgte' for 'config'; did you mean '--time-budget'? "
        "see 'autoresearch config --help'"),
    "option without its value": (
        {}, ["--repeats"], "option --repeats needs a value"),
    "positional argument": (
        {}, ["train.py"], "'config' takes no argument 'train.py'; options start with --"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_with_exit_code_2(case, ml_project, monkeypatch, capsys):
    files, flags, expected = BAD_INPUTS[case]
    project = ml_project()
    for name, text in files.items():
        (project / name).write_text(text)
    code, out, err = cli(["config", *flags], project, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == f"autoresearch: error: {expected.format(p=project)}\n"


@pytest.mark.parametrize("name", ["CLAUDE.md", "autoresearch.yaml"])
def test_non_utf8_config_file(name, ml_project, monkeypatch, capsys):
    project = ml_project()
    text = b"## autoresearch\n- repeats: 2\n" if name == "CLAUDE.md" else b"repeats: 2\n#\n"
    (project / name).write_bytes(text + b"# caf\xe9\n")
    code, out, err = cli(["config"], project, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == f"autoresearch: error: {project / name}:3: not valid UTF-8 text; " \
                  "save the file as UTF-8\n"


def test_bad_iterations_value(ml_project, monkeypatch, capsys):
    project = ml_project()
    assert cli(["loop", "--iterations", "many"], project, monkeypatch, capsys) == (
        2, "", "autoresearch: error: option --iterations = 'many' must be a whole number\n")
    assert cli(["loop", "-n", "-3"], project, monkeypatch, capsys) == (
        2, "", "autoresearch: error: option -n = '-3' must not be negative\n")


def test_no_project_type_shows_the_claude_md_snippet(tmp_path, run_cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a project\n")
    code, out, err = run_cli(["config"], empty)
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert err == (
        f"autoresearch: error: {empty}: no project type detected (no train.py+prepare.py, "
        "package.json, pubspec.yaml, pom.xml or build.gradle); add to CLAUDE.md: "
        "'## autoresearch' '- target_file: main.py' '- run_command: python main.py' "
        "'- metric_name: score' '- metric_parse: grep score: run.log | tail -1' "
        "'- metric_direction: higher_is_better'\n")


def test_an_incomplete_section_alone_is_not_a_custom_project(tmp_path, run_cli):
    project = tmp_path / "partial"
    project.mkdir()
    (project / "main.py").write_text("print('score: 1')\n")
    (project / "CLAUDE.md").write_text("## autoresearch\n- target_file: main.py\n")
    code, out, err = run_cli(["config"], project)
    assert (code, out) == (2, "")
    assert err == (f"autoresearch: error: {project / 'CLAUDE.md'}:1: the autoresearch section "
                   "has no run_command, metric_name, metric_parse; add '- run_command: <the "
                   "command that runs one experiment>' '- metric_name: <the metric's name>' "
                   "'- metric_parse: <a shell command that prints the metric>' (no project "
                   "type was detected from the files, so it must say everything)\n")


def test_an_incomplete_section_names_the_one_missing_key_and_its_line(tmp_path, run_cli):
    project = tmp_path / "partial"
    project.mkdir()
    (project / "CLAUDE.md").write_text(
        "# Notes\n\nHow we work.\n\n## autoresearch\n- target_file: main.py\n"
        "- run_command: python main.py\n- metric_name: score\n\n## Later\n")
    (project / "main.py").write_text("print('score: 1')\n")
    code, out, err = run_cli(["config"], project)
    assert (code, out) == (2, "")
    assert err.startswith(f"autoresearch: error: {project / 'CLAUDE.md'}:5: the autoresearch "
                          "section has no metric_parse; add '- metric_parse: <a shell command "
                          "that prints the metric>'")
    (project / "autoresearch.yaml").write_text("metric_regex: 'score: (\\d+)'\n")
    assert run_cli(["config"], project)[0] == 0  # complete with autoresearch.yaml's key


def test_type_custom_without_the_keys_names_them(tmp_path, run_cli):
    project = tmp_path / "partial"
    project.mkdir()
    (project / "autoresearch.yaml").write_text("type: custom\ntarget_file: main.py\n")
    (project / "main.py").write_text("print('score: 1')\n")
    code, out, err = run_cli(["config"], project)
    assert (code, out) == (2, "")
    assert err.startswith(f"autoresearch: error: {project / 'autoresearch.yaml'}: the "
                          "configuration has no run_command, metric_name, metric_parse; add "
                          "'run_command: <the command that runs one experiment>'")


@pytest.mark.parametrize(("files", "flags"), [
    ({"autoresearch.yaml": "repeats: 2\n\trepeats: 3\n"}, []),
    ({"CLAUDE.md": b"## autoresearch\n- repeats: \xff\n"}, []),
    ({}, ["--metric-regex", "(["]),
], ids=["tab", "non-utf8", "bad-regex"])
def test_a_real_process_prints_no_traceback(ml_project, run_cli, files, flags):
    project = ml_project()
    for name, content in files.items():
        path = project / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    code, out, err = run_cli(["config", *flags], project)
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("autoresearch: error: ")


def test_config_creates_nothing_but_its_state_dir(ml_project, run_cli):
    project = ml_project()
    before = sorted(p.name for p in project.iterdir())
    assert run_cli(["config"], project)[0] == 0
    after = sorted(p.name for p in project.iterdir())
    assert set(after) - set(before) <= {".autoresearch"}


# -- every choice and why (issue 14) ---------------------------------------------------------


def test_config_shows_the_metric_regex_it_uses(ml_project, show_config):
    from autoresearch.metrics import default_regex

    shown = show_config(ml_project())
    assert shown["metric_regex"] == (default_regex("val_bpb"), "default: 'val_bpb: <number>'")
    assert show_config(ml_project(), "--metric-regex", r"bpb=(\S+)")["metric_regex"] == (
        r"bpb=(\S+)", "--metric-regex")


def test_config_says_where_defaults_were_looked_for(ml_project, show_config):
    assert show_config(ml_project(git=True))["#defaults from"] == ("files tracked by git", "")


def test_a_target_git_does_not_track_is_not_a_default(tmp_path, show_config, run_cli, git):
    from real_projects import commit, write

    project = commit(write(tmp_path / "app", {"package.json": '{"name": "app"}\n'}))
    write(project, {"src/index.js": "export {}\n"})  # written, not yet added
    code, out, err = run_cli(["config"], project)
    assert (code, out) == (2, "")
    assert err == (f"autoresearch: error: {project}: no target file found for project type "
                   "'web' among the files tracked by git; set target_file in CLAUDE.md or "
                   "autoresearch.yaml, or pass --target-file\n")
    git(project, "add", "src/index.js")
    assert show_config(project)["target_file"] == ("src/index.js", origin_of("web"))


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--metric-exclude", "/tmp/*.map", "metric_exclude = '/tmp/*.map' must be globs relative to "
                                       "the project (no leading / or '..')"),
    ("--size-compression", "zstd", "size_compression = 'zstd' is not accepted; accepted: none, "
                                   "gzip, brotli"),
    ("--required-outputs", "../dist/x.js", "required_outputs = '../dist/x.js' must be globs "
                                           "relative to the project (no leading / or '..')"),
])
def test_bad_size_settings_are_one_line(web_project, run_cli, flag, value, message):
    code, out, err = run_cli(["config", flag, value], web_project())
    assert (code, out) == (2, "")
    assert err == f"autoresearch: error: {flag}: {message}\n"


def test_none_turns_excludes_and_required_outputs_off(web_project, show_config):
    shown = show_config(web_project(), "--metric-exclude", "none", "--required-outputs", "none")
    assert shown["metric_exclude"] == ("", "--metric-exclude")
    assert shown["required_outputs"] == ("", "--required-outputs")


def test_brotli_without_its_package_is_an_environment_error(web_project, run_cli, tmp_path):
    blocker = tmp_path / "no-brotli"
    blocker.mkdir()
    (blocker / "brotli.py").write_text("raise ImportError('not installed')\n")
    code, out, err = run_cli(["config", "--size-compression", "brotli"], web_project(),
                             {"PYTHONPATH": str(blocker)})
    assert (code, out) == (3, "")
    assert err == ("autoresearch: error: size_compression 'brotli' needs the brotli package, "
                   "which is not installed: pip install 'autoresearch[brotli]'\n")


def test_a_fresh_git_init_uses_the_files_on_disk(git_repo, ml_project, show_config):
    ml_project(git_repo)  # nothing added yet: setup will ask for a first commit
    shown = show_config(git_repo)
    assert shown["target_file"] == ("train.py", origin_of("ml"))
    assert shown["#defaults from"] == ("files on disk (nothing tracked yet)", "")
