"""``autoresearch demo``: the built-in ML project, a git repository, setup, a bounded loop.

The demo needs no model and no network: the ``tune`` agent proposes hyperparameters
with Optuna. It prints the results summary and writes the progress plot when the
``plot`` extra is installed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autoresearch.output import Console
from autoresearch.errors import ConfigError
from autoresearch.git import init_repo

DEMO_FLAGS = {"agent": "tune", "time_budget": "30"}


def demo_source() -> Path:
    """The demo project shipped in the wheel, or examples/ml-demo in a source checkout."""
    inside = Path(__file__).parent / "demo_project"
    return inside if inside.is_dir() else Path(__file__).parent.parent / "examples" / "ml-demo"


def create(directory: str | None) -> Path:
    if directory:
        target = Path(directory).expanduser().resolve()
        if target.exists() and any(target.iterdir()):
            raise ConfigError(f"--dir {target} exists and is not empty; name a new directory")
    else:
        target = Path(tempfile.mkdtemp(prefix="autoresearch-demo-"))
    shutil.copytree(demo_source(), target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    init_repo(target, "demo: a tiny character-level language model").close()
    return target


def demo(*, iterations: int, directory: str | None, console: Console,
         dashboard: bool = False) -> None:
    from autoresearch.loop import loop_command
    from autoresearch.results_command import summary_and_plot
    from autoresearch.setup import setup

    if iterations < 1:
        raise ConfigError(f"--iterations {iterations}: the demo needs at least 1 iteration")
    project = create(directory)
    console.info(f"demo project: {project}")
    setup(project, DEMO_FLAGS, tag="demo", resume=False, calibrate=0, console=console)
    server = _dashboard(project, console) if dashboard else None
    try:
        loop_command(project, DEMO_FLAGS, {"iterations": iterations, "tag": "demo"}, console)
        console.result(summary_and_plot(project, "demo", project / "progress.png", console))
        console.result(f"\nexplore it: cd {project} && autoresearch results")
        if server is not None:
            console.result(f"the dashboard stays up at {server.url} (Ctrl-C stops it)")
            server.stopping.wait()
    finally:
        if server is not None:
            server.close()


def _dashboard(project: Path, console: Console):
    """The demo's dashboard, on its usual port or, when that is taken, on a free one."""
    from autoresearch import dashboard
    from autoresearch.errors import EnvironmentProblem

    try:
        server = dashboard.serve(project, tag="demo")
    except EnvironmentProblem:
        server = dashboard.serve(project, port=0, tag="demo")
    console.result(f"dashboard: {server.url}")
    return server
