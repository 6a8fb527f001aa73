"""autoresearch.preflight: a run command whose program is missing is one line, exit 3, naming
the program and how to install it; a command that can run passes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from real_projects import executable_dir, write

from autoresearch import preflight
from autoresearch.errors import EnvironmentProblem, ExitCode


def problem(command: str, project: Path, path: str) -> str:
    with pytest.raises(EnvironmentProblem) as caught:
        preflight.check(command, project, env={"PATH": path})
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert "\n" not in caught.value.message
    return caught.value.message


def passes(command: str, project: Path, path: str) -> None:
    preflight.check(command, project, env={"PATH": path})


@pytest.fixture
def bin_dir(tmp_path: Path):
    """``bin_dir(*programs)``: a PATH holding exactly these (stand-ins that exit 0)."""
    return lambda *names: executable_dir(tmp_path / ("bin-" + "-".join(names or ("none",))),
                                         *names, real=())


def test_a_missing_program_names_it_and_how_to_install_it(tmp_path, bin_dir):
    write(tmp_path, {"pubspec.yaml": "name: app\n", "lib/main.dart": "void main() {}\n"})
    assert problem("flutter build apk --release", tmp_path, bin_dir("git")) == (
        "run_command 'flutter build apk --release': 'flutter' is not installed (not on PATH); "
        "install the Flutter SDK (https://docs.flutter.dev/get-started/install) and put its "
        "bin directory on PATH")
    passes("flutter build apk --release", tmp_path, bin_dir("flutter"))


def test_an_unknown_program_gets_a_generic_hint(tmp_path, bin_dir):
    assert problem("zig build", tmp_path, bin_dir()) == (
        "run_command 'zig build': 'zig' is not installed (not on PATH); install it, or change "
        "run_command")


def test_python_needs_its_script(tmp_path, bin_dir):
    path = bin_dir("python")
    assert problem("python train.py --epochs 5", tmp_path, path) == (
        f"run_command 'python train.py --epochs 5': python needs train.py, which does not "
        f"exist in {tmp_path}")
    (tmp_path / "train.py").write_text("print('val_bpb: 1.0')\n")
    passes("python train.py --epochs 5", tmp_path, path)
    passes("python -m pytest -q", tmp_path, path)  # a module, not a file
    passes("python -u -X dev train.py", tmp_path, path)


def test_environment_assignments_cd_and_prefixes_are_read_through(tmp_path, bin_dir):
    write(tmp_path, {"model/train.py": "print(1)\n"})
    path = bin_dir("python", "nice", "timeout")
    passes("cd model && CUDA_VISIBLE_DEVICES=0 nice -n 5 timeout 600 python train.py",
           tmp_path, path)
    assert problem("cd model && python prepare.py > log.txt 2>&1", tmp_path, path) == (
        "run_command 'cd model && python prepare.py > log.txt 2>&1': python needs prepare.py, "
        f"which does not exist in {tmp_path / 'model'}")
    assert problem("cd nowhere && python train.py", tmp_path, path) == (
        f"run_command 'cd nowhere && python train.py': directory nowhere (cd) does not exist in "
        f"{tmp_path}")


def test_uv_run_needs_uv_and_the_script(tmp_path, bin_dir):
    assert problem("uv run train.py", tmp_path, bin_dir("python")) == (
        "run_command 'uv run train.py': 'uv' is not installed (not on PATH); install uv "
        "(pip install uv, or https://docs.astral.sh/uv)")
    assert problem("uv run train.py", tmp_path, bin_dir("uv")).endswith(
        f"uv run needs train.py, which does not exist in {tmp_path}")
    (tmp_path / "train.py").write_text("print(1)\n")
    passes("uv run train.py", tmp_path, bin_dir("uv"))
    passes("uv run --with numpy python train.py", tmp_path, bin_dir("uv"))


def test_wrappers_must_exist_and_be_executable(tmp_path, bin_dir):
    path = bin_dir("java")
    assert problem("./gradlew build -x test", tmp_path, path) == (
        f"run_command './gradlew build -x test': ./gradlew does not exist in {tmp_path}")
    (tmp_path / "gradlew").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "gradlew").chmod(0o644)  # as a zip download or a Windows commit leaves it
    assert problem("./gradlew build -x test", tmp_path, path) == (
        "run_command './gradlew build -x test': ./gradlew is not executable: run 'chmod +x "
        "gradlew' (and 'git update-index --chmod=+x gradlew' to commit the mode)")
    (tmp_path / "gradlew").chmod(0o755)
    passes("./gradlew build -x test", tmp_path, path)


def test_build_tools_need_java(tmp_path, bin_dir):
    (tmp_path / "mvnw").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "mvnw").chmod(0o755)
    message = problem("./mvnw -q clean package -DskipTests", tmp_path, bin_dir("mvn"))
    assert message.endswith("./mvnw needs Java, which is not installed (no java on PATH); "
                            "install a JDK (apt-get install default-jdk) or set JAVA_HOME")
    assert problem("mvn -q package", tmp_path, bin_dir("java")).endswith(
        "'mvn' is not installed (not on PATH); install Maven (apt-get install maven), or add the "
        "Maven wrapper (mvn wrapper:wrapper) and run ./mvnw")
    passes("./mvnw -q clean package -DskipTests", tmp_path, bin_dir("java"))


def npm_project(root: Path, scripts: dict[str, str]) -> Path:
    return write(root, {"package.json": json.dumps({"name": "app", "scripts": scripts})})


def test_npm_run_needs_node_and_npm(tmp_path, bin_dir):
    project = npm_project(tmp_path / "app", {"build": "node build.js"})
    assert problem("npm run build", project, bin_dir("node")).endswith(
        "'npm' is not installed (not on PATH); install Node.js and npm (https://nodejs.org, or "
        "apt-get install nodejs npm)")
    assert problem("npm run build", project, bin_dir("npm")).endswith(
        "npm needs node, which is not installed (not on PATH); install Node.js and npm "
        "(https://nodejs.org, or apt-get install nodejs npm)")


def test_npm_run_needs_the_script(tmp_path, bin_dir):
    project = npm_project(tmp_path / "app", {"dev": "vite", "test": "vitest"})
    assert problem("npm run build", project, bin_dir("node", "npm")) == (
        f"run_command 'npm run build': package.json in {project} has no script 'build' (its "
        "scripts: dev, test); add it or change run_command")


def test_npm_run_needs_what_the_script_runs(tmp_path, bin_dir):
    project = npm_project(tmp_path / "app", {"build": "tsc -b && vite build"})
    path = bin_dir("node", "npm")
    assert problem("npm run build", project, path) == (
        "run_command 'npm run build': npm run build runs 'tsc -b && vite build': 'tsc' is not "
        "installed (not on PATH); node_modules is missing: run 'npm install' first")
    (project / "package-lock.json").write_text("{}\n")
    assert problem("npm run build", project, path).endswith("run 'npm ci' first")
    executable_dir(project / "node_modules" / ".bin", "tsc", real=())
    assert problem("npm run build", project, path) == (
        "run_command 'npm run build': npm run build runs 'tsc -b && vite build': 'vite' is not "
        "installed (not on PATH); install it, or change run_command")
    executable_dir(project / "node_modules" / ".bin", "vite", real=())
    passes("npm run build", project, path)


def test_npm_scripts_are_followed_and_a_workspace_root_s_binaries_count(tmp_path, bin_dir):
    root = npm_project(tmp_path / "mono", {"build": "npm run build --workspaces"})
    executable_dir(root / "node_modules" / ".bin", "esbuild", real=())
    app = npm_project(root / "packages" / "app", {"build": "npm run bundle",
                                                  "bundle": "esbuild src/index.js --bundle"})
    passes("npm run build", app, bin_dir("node", "npm"))
    passes("cd packages/app && npm run build", root, bin_dir("node", "npm"))


def test_yarn_runs_a_script_or_an_installed_program(tmp_path, bin_dir):
    project = npm_project(tmp_path / "app", {"build": "vite build"})
    path = bin_dir("node", "yarn")
    assert problem("yarn build", project, path).endswith(
        "node_modules is missing: run 'yarn install' first")
    executable_dir(project / "node_modules" / ".bin", "vite", real=())
    passes("yarn build", project, path)
    passes("yarn vite build", project, path)
    assert problem("yarn webpack", project, path) == (
        f"run_command 'yarn webpack': yarn webpack: no script or installed program 'webpack' in "
        f"{project}; run 'yarn install' or change run_command")


def test_checks_that_run_nothing_are_not_mistaken_for_programs(tmp_path, bin_dir):
    (tmp_path / "train.py").write_text("print(1)\n")
    passes("command -v nvidia-smi || echo no gpu; test -f train.py && python train.py",
           tmp_path, bin_dir("python"))
    passes("$PYTHON train.py", tmp_path, bin_dir())


def test_the_real_environment_passes_for_a_real_project(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    preflight.check("python3 train.py", tmp_path)  # this process's PATH has python3
    assert os.environ["PATH"]
