"""The wheel: built from the repository, installed into a fresh venv, it carries the recipes
and the demo project and its console script works outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_RECIPES = sorted(p.name for p in (REPO / "recipes").glob("*.yaml"))

pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(REPO)], REPO)
    [built] = outdir.glob("autoresearch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin directory."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(wheel)], env_dir)
    return bin_dir


def test_the_wheel_carries_the_recipes_the_demo_and_the_dashboard(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(n.removeprefix("autoresearch/recipes/") for n in names
                     if n.startswith("autoresearch/recipes/") and n.endswith(".yaml"))
    assert recipes == SHIPPED_RECIPES
    assert "autoresearch/demo_project/train.py" in names
    assert "autoresearch/demo_project/prepare.py" in names
    assert {"autoresearch/dashboard/assets/page.html", "autoresearch/dashboard/assets/dashboard.js",
            "autoresearch/dashboard/assets/dashboard.css"} <= names
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "autoresearch = autoresearch.cli:main" in zipfile.ZipFile(wheel).read(
        entry_points).decode()


def test_the_installed_command_detects_a_project_outside_the_repository(installed,
                                                                        ml_project):
    project = ml_project()
    assert not project.resolve().is_relative_to(REPO)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "AUTORESEARCH_RECIPES", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    done = run([str(installed / "autoresearch"), "detect"], project, env, timeout=120)
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    site = next(installed.parent.glob("lib/python3*/site-packages"))
    assert lines[:2] == [f"# project: {project}",
                         f"# type: ml ({site / 'autoresearch' / 'recipes' / 'ml.yaml'})"]
    assert "type: ml" in done.stdout
    assert "target_file = train.py (recipe ml (ml.yaml))" in [" ".join(line.split())
                                                               for line in lines]
