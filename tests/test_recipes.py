"""autoresearch.recipes: the shipped recipes, the search path, malformed recipe files, and a
new project type added with nothing but a YAML file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from autoresearch.cli import main
from autoresearch.recipes import load_all, load_recipe, shipped_dir

SHIPPED = shipped_dir()
REAL_HOME = Path.home()  # before any test points HOME elsewhere
README = Path(__file__).resolve().parents[1] / "README.md"

RUST_RECIPE = """\
# Rust binary: the metric is the size of the release build.
name: rust
description: Rust binary (size of the release build)
priority: 25
detect:
  all_files: [Cargo.toml]
target: [{path: src/main.rs}]
run_command: cargo build --release
metric:
  name: binary_size_kb
  source: size
  file: target/release/hello
  unit: KB
direction: lower_is_better
readonly_files: [Cargo.toml]
"""

RUST_FILES = {
    "Cargo.toml": '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/main.rs": 'fn main() {\n    println!("hello");\n}\n',
    ".gitignore": "/target\n",
}


@pytest.fixture
def no_user_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AUTORESEARCH_RECIPES and an empty home: only the shipped recipes are found."""
    monkeypatch.delenv("AUTORESEARCH_RECIPES", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def recipe_dir(tmp_path: Path, no_user_recipes: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on AUTORESEARCH_RECIPES (for this process and the CLI it starts)."""
    directory = tmp_path / "recipes"
    directory.mkdir()
    monkeypatch.setenv("AUTORESEARCH_RECIPES", str(directory))
    return directory


def cli(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def rust_project(root: Path) -> Path:
    for name, text in RUST_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# -- shipped recipes -------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_loads(path: Path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert recipe.description
    assert recipe.direction in ("lower_is_better", "higher_is_better")
    assert f"| {recipe.name} (" in README.read_text()  # documented in the recipes table


def test_the_shipped_recipes_are_the_five_types(no_user_recipes):
    recipes = load_all()
    assert sorted(recipes) == ["custom", "flutter", "java", "ml", "web"]
    assert all(r.source.parent == SHIPPED for r in recipes.values())
    priority = sorted(recipes.values(), key=lambda r: -r.priority)
    assert [r.name for r in priority] == ["custom", "ml", "flutter", "java", "web"]


# -- a new project type is one YAML file -------------------------------------------------


def test_a_new_project_type_needs_only_a_yaml_file(recipe_dir, tmp_path, show_config):
    (recipe_dir / "rust.yaml").write_text(RUST_RECIPE)
    project = rust_project(tmp_path / "hello")
    shown = show_config(project)
    origin = "recipe rust (rust.yaml)"
    assert shown["#type"] == (f"rust ({recipe_dir / 'rust.yaml'})", "")
    assert shown["target_file"] == ("src/main.rs", origin)
    assert shown["run_command"] == ("cargo build --release", origin)
    assert shown["metric_name"] == ("binary_size_kb", origin)
    assert shown["metric_source"] == ("size", origin)
    assert shown["metric_file"] == ("target/release/hello", origin)
    assert shown["metric_unit"] == ("KB", origin)
    assert shown["readonly_files"] == ("Cargo.toml", origin)


def test_without_the_yaml_file_the_rust_project_is_not_detected(no_user_recipes, tmp_path,
                                                                run_cli):
    project = rust_project(tmp_path / "hello")
    code, out, err = run_cli(["config"], project)
    assert (code, out) == (2, "")
    assert err.startswith(f"autoresearch: error: {project}: no project type detected")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_a_yaml_only_project_type_measures_its_baseline(recipe_dir, tmp_path, git_identity,
                                                        git, run_cli):
    (recipe_dir / "rust.yaml").write_text(RUST_RECIPE)
    project = rust_project(tmp_path / "hello")
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "hello")
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    env.setdefault("RUSTUP_HOME", str(REAL_HOME / ".rustup"))  # HOME is a temporary one here
    env.setdefault("CARGO_HOME", str(REAL_HOME / ".cargo"))
    code, out, err = run_cli(["setup", "--tag", "size"], project, env)
    assert (code, err) == (0, "")
    rows = (project / "results.tsv").read_text().splitlines()
    assert len(rows) == 2
    commit, metric, value, status, description = rows[1].split("\t")
    built = tmp_path / "built"  # the loop built in its own worktree: build the commit here
    git(project, "worktree", "add", "--quiet", "--detach", str(built), "HEAD")
    subprocess.run(["cargo", "build", "--release"], cwd=built, env=env, check=True,
                   capture_output=True, timeout=300)
    size_kb = (built / "target/release/hello").stat().st_size / 1024
    assert (commit, metric, status, description) == (
        git(project, "rev-parse", "--short=7", "HEAD"), "binary_size_kb", "keep", "baseline")
    assert float(value) == pytest.approx(size_kb, abs=1e-6)


# -- the search path -----------------------------------------------------------------------


def test_a_user_recipe_replaces_the_shipped_one_of_the_same_name(recipe_dir, ml_project,
                                                                 show_config):
    (recipe_dir / "my-ml.yaml").write_text(
        "name: ml\ndescription: ML, our way\npriority: 40\n"
        "detect: {all_files: [train.py, prepare.py]}\n"
        "target: [{path: train.py}]\n"
        "run_command: python -X dev train.py\n"
        "metric: {name: val_loss, source: regex}\n")
    shown = show_config(ml_project())
    origin = "recipe ml (my-ml.yaml)"
    assert shown["#type"] == (f"ml ({recipe_dir / 'my-ml.yaml'})", "")
    assert shown["run_command"] == ("python -X dev train.py", origin)
    assert shown["metric_name"] == ("val_loss", origin)
    assert shown["readonly_files"] == ("", "default")  # nothing inherited from the shipped ml


def test_earlier_directories_on_the_path_win(tmp_path, no_user_recipes, monkeypatch, ml_project,
                                             show_config):
    first, second = tmp_path / "first", tmp_path / "second"
    home_recipes = no_user_recipes / ".config" / "autoresearch" / "recipes"
    for directory, command in [(first, "python first.py"), (second, "python second.py"),
                               (home_recipes, "python home.py")]:
        directory.mkdir(parents=True)
        (directory / "ml.yaml").write_text(
            f"name: ml\ndetect: {{all_files: [train.py]}}\ntarget: [{{path: train.py}}]\n"
            f"run_command: {command}\nmetric: {{name: val_bpb}}\n")
    project = ml_project()

    assert show_config(project)["run_command"][0] == "python home.py"
    monkeypatch.setenv("AUTORESEARCH_RECIPES", f"{second}{os.pathsep}{first}")
    assert show_config(project)["run_command"][0] == "python second.py"
    monkeypatch.setenv("AUTORESEARCH_RECIPES", f"{first}{os.pathsep}{second}")
    assert show_config(project)["run_command"][0] == "python first.py"


def test_a_user_recipe_with_a_higher_priority_wins_detection(recipe_dir, ml_project, show_config):
    (recipe_dir / "torch.yaml").write_text(
        "name: torch\npriority: 50\ndetect: {all_files: [train.py], any_files: [prepare.py]}\n"
        "target: [{search: '*.py', pattern: 'VAL_BPB'}]\nrun_command: torchrun train.py\n"
        "metric: {name: val_bpb, source: regex}\n")
    shown = show_config(ml_project())
    assert shown["#type"] == (f"torch ({recipe_dir / 'torch.yaml'}); matched: torch, ml", "")
    assert shown["target_file"] == ("train.py", "recipe torch (torch.yaml)")


# -- malformed recipes: one line with file and line, exit 2 --------------------------------

BAD_RECIPES = {
    "YAML syntax": ("name: rust\ndetect: {all_files: [Cargo.toml]\n",
                    "3: YAML error: expected ',' or '}', but got '<stream end>'"),
    "tab": ("name: rust\ndetect:\n\tall_files: [Cargo.toml]\n",
            "3: YAML error: a tab character; indent YAML with spaces"),
    "duplicate key": ("name: rust\ndirection: lower_is_better\nname: rusty\n",
                      "3: YAML error: duplicate key: name"),
    "unknown key": ("name: rust\ndetct:\n  all_files: [Cargo.toml]\n",
                    "2: recipe key 'detct' is unknown; accepted: description, detect, direction, "
                    "evaluation_files, metric, name, priority, readonly_files, run_command, "
                    "target, variants"),
    "bad name": ("description: Rust\nname: Rust\n",
                 "2: recipe key 'name' must be a lowercase word (letters, digits, - or _), "
                 "got 'Rust'"),
    "no name": ("description: Rust\n",
                "1: recipe key 'name' must be a lowercase word (letters, digits, - or _), "
                "got None"),
    "bad direction": ("name: rust\ndirection: smaller\n",
                      "2: recipe key 'direction' is 'smaller'; accepted: lower_is_better, "
                      "higher_is_better"),
    "bad detect entry": ("name: rust\ndetect:\n  files: [Cargo.toml]\n",
                         "2: recipe key 'detect' has unknown entry 'files'; accepted: all_files, "
                         "any_files, config_complete"),
    "detect files not a list": ("name: rust\ndetect:\n  all_files: Cargo.toml\n",
                                "2: recipe key 'detect' must be a list, got str"),
    "config_complete not a boolean": ("name: rust\ndetect: {config_complete: maybe}\n",
                                      "2: recipe key 'detect' config_complete must be true or "
                                      "false, got 'maybe'"),
    "bad target pattern": ("name: rust\ntarget:\n  - {search: 'src/*.rs', pattern: 'fn main('}\n",
                           "2: recipe key 'target' has a bad pattern 'fn main(': missing ), "
                           "unterminated subpattern at position 7"),
    "target field not a string": ("name: rust\ntarget: [{path: [src, main.rs]}]\n",
                                  "2: recipe key 'target' entry field 'path' must be a non-empty "
                                  "string, got ['src', 'main.rs']"),
    "absolute target glob": ("name: rust\ntarget: [{search: '/etc/*', pattern: x}]\n",
                             "2: recipe key 'target' entry field 'search' must be relative to "
                             "the project (no leading / or '..'), got '/etc/*'"),
    "target without a kind": ("name: rust\ntarget: [{file: src/main.rs}]\n",
                              "2: recipe key 'target' entries need one of path, json_file, "
                              "search, bundler_entry, got {'file': 'src/main.rs'}"),
    "variant without run_command": ("name: rust\nvariants:\n  - when: {files: [x]}\n",
                                    "2: recipe key 'variants' entries need 'when' and "
                                    "'run_command'"),
    "priority not a number": ("name: rust\npriority: high\n",
                              "2: recipe key 'priority' must be a whole number, got 'high'"),
    "unknown metric entry": ("name: rust\nmetric:\n  name: size\n  units: KB\n",
                             "2: recipe key 'metric' has unknown entry 'units'; accepted: "
                             "command, compression, exclude, file, jmespath, name, output_key, "
                             "outputs_of, regex, source, unit"),
    "bad output_key": ("name: rust\nmetric: {output_key: dist}\n",
                       "2: recipe key 'metric' output_key must be {json_file: FILE, key: KEY}, "
                       "got 'dist'"),
    "run_command not a string": ("name: rust\nrun_command: [cargo, build]\n",
                                 "2: recipe key 'run_command' must be a string, got list"),
    "not a mapping": ("- name: rust\n",
                      "1: expected a mapping of 'key: value' lines at the top level"),
}


@pytest.mark.parametrize("case", list(BAD_RECIPES))
def test_a_malformed_recipe_is_one_line_naming_file_and_line(case, recipe_dir, ml_project,
                                                             monkeypatch, capsys):
    text, problem = BAD_RECIPES[case]
    (recipe_dir / "rust.yaml").write_text(text)
    code, out, err = cli(["config"], ml_project(), monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == f"autoresearch: error: {recipe_dir / 'rust.yaml'}:{problem}\n"


def test_a_malformed_recipe_in_a_real_process(recipe_dir, ml_project, run_cli):
    (recipe_dir / "rust.yaml").write_bytes(b"name: rust\ndescription: caf\xe9\n")
    code, out, err = run_cli(["config"], ml_project())
    assert (code, out) == (2, "")
    assert err == (f"autoresearch: error: {recipe_dir / 'rust.yaml'}:2: not valid UTF-8 text; "
                   "save the file as UTF-8\n")


def test_a_bad_value_in_the_chosen_recipe_names_the_recipe(recipe_dir, tmp_path, monkeypatch,
                                                          capsys):
    (recipe_dir / "rust.yaml").write_text(RUST_RECIPE.replace("source: size", "source: sized"))
    project = rust_project(tmp_path / "hello")
    code, out, err = cli(["config"], project, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == ("autoresearch: error: recipe rust (rust.yaml): metric_source = 'sized' is not "
                   "accepted; did you mean 'size'? accepted: command, regex, lines, json, size, "
                   "time, emitted\n")
