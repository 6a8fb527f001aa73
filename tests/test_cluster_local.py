"""autoresearch.cluster without a cluster: the local and prefix runners, the choice of runner
from the config, the new config keys, what a Ray job would ship, and the job records."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from autoresearch import cluster
from autoresearch.cli import main
from autoresearch.cluster import records, shipping
from autoresearch.cluster.local import LocalRunner, PrefixRunner
from autoresearch.config import resolve
from autoresearch.errors import ConfigError, EnvironmentProblem


def run(job_runner, tmp_path: Path, command: str, **options):
    log = tmp_path / "run.log"
    result = job_runner.run(command, cwd=tmp_path, log_path=log, timeout=30,
                            jobs_dir=tmp_path / "jobs", **options)
    return result, log.read_text()


def test_the_local_runner_is_runner_run_and_says_where(tmp_path):
    result, log = run(LocalRunner(), tmp_path, "echo $GREETING; exit 4", env={"GREETING": "hi"})
    assert (log, result.exit_code, result.timed_out) == ("hi\n", 4, False)
    assert (result.node, result.job_id, result.cancelled) == (socket.gethostname(), None, False)


def test_a_prefix_runs_the_command_through_sh(tmp_path):
    result, log = run(PrefixRunner("env WHERE=prefixed"), tmp_path, "echo \"$WHERE\" 'it''s'")
    assert (log, result.exit_code, result.node) == ("prefixed its\n", 0, None)


def test_a_prefix_that_is_not_installed_is_a_one_line_error(tmp_path):
    with pytest.raises(EnvironmentProblem) as caught:
        PrefixRunner("sky-not-installed exec gpu --").preflight(tmp_path, jobs_dir=tmp_path)
    assert str(caught.value) == ("runner: 'sky-not-installed' (from 'sky-not-installed exec gpu "
                                 "--') is not on PATH; install it, or use runner: ray or slurm")


def test_a_prefix_that_does_not_parse_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^runner: 'srun \"--' is not a valid command prefix"):
        PrefixRunner('srun "--')


def test_runner_ray_without_ray_installed_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)  # import fails
    with pytest.raises(EnvironmentProblem) as caught:
        cluster.RayRunner().preflight(tmp_path, jobs_dir=tmp_path / "jobs")
    assert str(caught.value) == ("runner ray needs Ray's job client: "
                                 "pip install 'autoresearch[cluster]'")


# -- configuration ----------------------------------------------------------------------------

def cluster_project(ml_project, yaml: str) -> Path:
    project = ml_project()
    (project / "autoresearch.yaml").write_text(yaml)
    return project


@pytest.mark.parametrize("yaml, expected", [
    ("", LocalRunner), ("runner: local\n", LocalRunner), ("runner: ray\n", cluster.RayRunner),
    ("runner: slurm\n", cluster.SlurmRunner), ("runner: sky exec c --\n", PrefixRunner)])
def test_the_runner_key_chooses_the_runner(ml_project, yaml, expected):
    assert type(cluster.from_config(resolve(cluster_project(ml_project, yaml)))) is expected


def test_cluster_keys_reach_the_runners(ml_project):
    config = resolve(cluster_project(ml_project, (
        "runner: ray\nray_address: http://head:8265\nray_resources: {GPU: 1, CPU: 4}\n"
        "queue_timeout: 10m\n")))
    ray = cluster.from_config(config)
    assert (ray.address, ray.resources, ray.queue_timeout) == (
        "http://head:8265", {"GPU": 1.0, "CPU": 4.0}, 600.0)
    slurm = cluster.from_config(resolve(cluster_project(ml_project, (
        "runner: slurm\nslurm_args: --gres=gpu:1 --time=15\n"))))
    assert (slurm.args, slurm.queue_timeout) == (["--gres=gpu:1", "--time=15"], None)


def test_resources_from_claude_md_and_the_command_line(ml_project, monkeypatch, capsys):
    project = ml_project()
    (project / "CLAUDE.md").write_text("## autoresearch\n- ray_resources: {\"GPU\": 2}\n")
    assert resolve(project).ray_resources == {"GPU": 2.0}
    assert resolve(project, {"ray_resources": "{accelerator_type_A100: 1}"}).ray_resources == {
        "accelerator_type_A100": 1.0}


@pytest.mark.parametrize("flags, expected", [
    (["--ray-resources", "GPU"], ("--ray-resources: ray_resources = 'GPU' must be a mapping "
                                  "of resource names to amounts, e.g. {GPU: 1, CPU: 4}")),
    (["--ray-resources", "{GPU: -1}"], ("--ray-resources: ray_resources = '{GPU: -1}' must be "
                                        "at least 0")),
    (["--queue-timeout", "soon"], ("--queue-timeout: queue_timeout = 'soon' must be seconds or "
                                   "a duration like 90s, 5m, 1h30m")),
    (["--fetch-files", "../out.json"], ("--fetch-files: fetch_files = '../out.json' must be "
                                        "paths inside the project (relative, without '..')")),
])
def test_bad_cluster_values_are_one_line_with_exit_code_2(ml_project, monkeypatch, capsys,
                                                          flags, expected):
    monkeypatch.chdir(ml_project())
    assert main(["config", *flags]) == 2
    assert capsys.readouterr() == ("", f"autoresearch: error: {expected}\n")


@pytest.mark.parametrize("yaml, expected", [
    ("metric_source: json\nmetric_file: out/m.json\nmetric_jmespath: score\n", ("out/m.json",)),
    ("metric_source: size\nmetric_file: 'dist/**, build'\nfetch_files: [dist/**, log.txt]\n",
     ("dist/**", "log.txt", "build")),
    ("fetch_files: results/*.csv\n", ("results/*.csv",)),
])
def test_what_a_job_fetches_follows_the_metric(ml_project, yaml, expected):
    assert cluster.fetch_globs(resolve(cluster_project(ml_project, yaml))) == expected


# -- what runner: ray ships ----------------------------------------------------------------

def test_shipping_leaves_out_git_the_tools_files_and_links_out_of_the_tree(tmp_path, git):
    outside = tmp_path / "venv"
    outside.mkdir()
    (outside / "huge.bin").write_bytes(b"0" * 5000)
    tree = tmp_path / "tree"
    (tree / "data").mkdir(parents=True)
    (tree / "train.py").write_text("print(1)\n")
    (tree / "data" / "inside.txt").write_text("12345")
    (tree / ".gitignore").write_text("ignored/\n")
    (tree / "ignored").mkdir()
    (tree / "ignored" / "big.bin").write_bytes(b"0" * 5000)
    (tree / "run.log").write_bytes(b"0" * 5000)
    (tree / ".venv").symlink_to(outside)
    (tree / "data" / "again").symlink_to(tree / "data" / "inside.txt")
    for in_git in (False, True):
        if in_git:
            git(tree, "init", "-q")
        plan = shipping.plan(tree)
        assert plan.excludes == [".git", "results.tsv", "run.log", ".claude/logs/",
                                 "progress.png", "results.tsv.*.bak", "/.venv"]
        counted = 9 + 5 + 5 + len("ignored/\n") + (0 if in_git else 5000)
        assert plan.size == counted


def test_a_tree_too_large_to_ship_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shipping, "MAX_BYTES", 3 * 1024 * 1024)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.bin").write_bytes(b"0" * 4 * 1024 * 1024)
    (tmp_path / "train.py").write_text("x")
    with pytest.raises(EnvironmentProblem) as caught:
        shipping.plan(tmp_path)
    assert str(caught.value) == (
        f"runner ray: {tmp_path} is 4 MiB to ship with every experiment (the limit is 3 MiB; "
        "largest: data 4 MiB, train.py 0 MiB); list what the run does not need in .rayignore "
        "and put data on the cluster's own storage")


# -- records --------------------------------------------------------------------------------

def test_records_of_unknown_runners_and_unreadable_ones_are_dropped(tmp_path):
    jobs = tmp_path / "jobs"
    records.write(jobs, "autoresearch-1", "nomad")
    (jobs / "broken.job").write_text("{not json")
    (jobs / "4242.json").write_text(json.dumps({"pid": 4242}))  # a process record: not ours
    assert cluster.cancel_leftovers(jobs) == []
    assert sorted(os.listdir(jobs)) == ["4242.json"]
