"""A whole loop through each real cluster engine: ``loop --jobs 2`` with ``runner: ray`` or
``runner: slurm`` keeps and discards exactly as the local runner does, the job ids and nodes
are in the JSONL, and a run over its timeout is stopped on the cluster, not only locally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_fixtures import job_state
from helpers import PY, cli, experiments, git, make_project, train_py

pytestmark = pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning")
PLAN = [{"write": {"train.py": train_py(value)}, "say": f"to {value}"}
        for value in (0.8, 0.9, 0.7, 0.95)]


@pytest.fixture(params=["local", "ray", "slurm"])
def runner(request) -> dict[str, str]:
    """The config keys that send each experiment to that engine."""
    if request.param == "ray":
        return {"runner": "ray", "ray_address": request.getfixturevalue("ray_cluster").address}
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
        return {"runner": "slurm"}
    return {}


def outcomes(project: Path) -> list[tuple[str, float]]:
    return [(d["status"], d["value"]) for d in experiments(project)]


def test_a_parallel_loop_through_the_engine_decides_like_the_local_runner(tmp_path, runner):
    project = make_project(tmp_path, train_py(1.0), PLAN, run_command=f"{PY} train.py",
                           **runner)
    done = cli(project, "loop", "--jobs", "2", "-n", "4", "--tag", "c", "--json",
               timeout=600)
    assert done.returncode == 0, done.stderr
    logged = experiments(project)
    assert len(logged) == 5 and logged[0]["status"] == "keep"
    kept = [d["value"] for d in logged if d["status"] == "keep"]
    assert kept == sorted(kept, reverse=True) and kept[-1] == 0.7
    assert git(project, "show", "autoresearch/c:train.py") + "\n" == train_py(0.7)
    if runner:
        for d in logged[1:]:
            if d.get("full_commit"):
                jobs = d["jobs"]
                assert jobs and all(job["job_id"] and job["node"] for job in jobs)


@pytest.mark.parametrize("engine", ["ray", "slurm"])
def test_a_run_over_its_timeout_is_stopped_on_the_cluster(tmp_path, engine, request):
    keys: dict[str, object] = {"runner": engine}
    if engine == "ray":
        keys["ray_address"] = request.getfixturevalue("ray_cluster").address
    else:
        request.getfixturevalue("slurm_cluster")
    slow = "import time\ntime.sleep(300)\n" + train_py(0.5)
    project = make_project(tmp_path, train_py(1.0), [{"write": {"train.py": slow},
                                                     "say": "sleep"}],
                           time_budget=3, timeout=8, **keys)
    done = cli(project, "loop", "-n", "1", "--tag", "t", timeout=600)
    assert done.returncode == 0, done.stderr
    crashed = experiments(project)[-1]
    assert crashed["status"] == "crash" and crashed["error"].startswith("timeout")
    (job,) = crashed["jobs"]
    assert job["cancelled"]
    if engine == "slurm":
        assert job_state(job["job_id"]) in ("CANCELLED", "TIMEOUT")
    else:
        from ray.job_submission import JobSubmissionClient

        status = JobSubmissionClient(keys["ray_address"]).get_job_status(job["job_id"]).value
        assert status == "STOPPED"
    assert json.loads((project / ".claude/logs/autoresearch.jsonl").read_text().splitlines()[-1])[
        "action"] == "session_end"
