"""runner: ray and runner: slurm on real engines (a local Ray head, a single-node Slurm
cluster; see cluster_fixtures.py): each test runs for both unless its name says which.

Whether a job was stopped is asked of the cluster itself (the Jobs API's status for Ray,
squeue for Slurm), and whether its command still runs, of the machine's process table.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_fixtures import job_state, process_running, wait_for

from autoresearch import cluster
from autoresearch.cluster import records
from autoresearch.cluster.base import JobRunner
from autoresearch.errors import EnvironmentProblem, Interrupted

WAIT_S = 120.0  # bound on waiting for a job to reach a point; never an assertion on speed
pytestmark = pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning")


@dataclass
class Engine:
    name: str
    runner: JobRunner
    state: Callable[[str], str]  # the cluster's word for a job's state
    stopped: str  # that word for a job stopped by us
    make: str  # Python making the same runner, for a process of its own


@pytest.fixture(params=["ray", "slurm"])
def engine(request) -> Engine:
    if request.param == "ray":
        address = request.getfixturevalue("ray_cluster").address
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(address)
        return Engine("ray", cluster.RayRunner(address),
                      lambda job: client.get_job_status(job).value, "STOPPED",
                      f"cluster.RayRunner({address!r})")
    request.getfixturevalue("slurm_cluster")
    return Engine("slurm", cluster.SlurmRunner(), job_state, "CANCELLED", "cluster.SlurmRunner()")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    path = tmp_path / "tree"
    path.mkdir()
    (path / "train.py").write_text("print('training')\n")
    return path


def sleeper() -> str:
    """A command line that says it started, then sleeps a unique number of seconds."""
    return f"echo started; sleep {random.randint(100000, 999999)}"


def in_flight(jobs: Path) -> dict[str, str]:
    """{the tool's name: the scheduler's id} of the recorded jobs."""
    return {data["name"]: data.get("job_id", data["name"]) for _, data in records.recorded(jobs)}


def wait_for_line(log: Path, text: str) -> None:
    wait_for(lambda: log.exists() and text in log.read_text(), f"'{text}' in {log}", WAIT_S)


def assert_gone(engine: Engine, job_id: str, command: str) -> None:
    assert engine.state(job_id) == engine.stopped
    wait_for(lambda: not process_running(command.split("; ")[-1]),
             f"the end of '{command}' on the node", WAIT_S)


def test_a_job_streams_its_output_sends_back_its_files_and_its_exit_code(engine, tree, tmp_path):
    go = tmp_path / "go"
    command = (f"echo first $GREETING; while [ ! -e {go} ]; do sleep 0.1; done; "
               "echo second >&2; mkdir -p out; echo '{\"score\": 7}' > out/metric.json; exit 3")
    log, jobs = tmp_path / "run.log", tmp_path / "jobs"
    done = {}
    job = threading.Thread(target=lambda: done.update(result=engine.runner.run(
        command, cwd=tree, log_path=log, timeout=WAIT_S, jobs_dir=jobs,
        env={"GREETING": "hello"}, fetch=["out/*.json"])))
    job.start()
    wait_for_line(log, "first hello\n")  # streamed while the job still waits for us
    go.touch()
    job.join()
    result = done["result"]
    assert log.read_text() == "first hello\nsecond\n"
    assert (result.exit_code, result.timed_out, result.cancelled) == (3, False, False)
    assert result.node == socket.gethostname() and result.job_id
    assert (tree / "out" / "metric.json").read_text() == '{"score": 7}\n'
    assert in_flight(jobs) == {}


def test_a_run_over_its_timeout_is_stopped_on_the_cluster(engine, tree, tmp_path):
    command = sleeper()
    log = tmp_path / "run.log"
    result = engine.runner.run(command, cwd=tree, log_path=log, timeout=3,
                               jobs_dir=tmp_path / "jobs")
    assert (result.exit_code, result.timed_out, result.cancelled) == (None, True, True)
    assert_gone(engine, result.job_id, command)
    assert re.fullmatch(r"started\n(.*\n)?\n\[autoresearch: timeout: the job ran longer than 3 s; "
                        r"the job was stopped on the cluster\]\n", log.read_text())
    assert in_flight(tmp_path / "jobs") == {}


def test_ctrl_c_stops_every_job_in_flight(engine, tree, tmp_path):
    """Two jobs in flight: one in a worker thread, stopped as the loop stops its workers
    (on_tick raises the loop's Interrupted, here for a SIGTERM), one in the main thread,
    which gets a real SIGINT."""
    jobs = tmp_path / "jobs"
    commands = [sleeper(), sleeper()]
    logs = [tmp_path / "worker.log", tmp_path / "main.log"]
    stop = threading.Event()
    caught: dict[str, BaseException] = {}

    def stop_when_asked(elapsed: float) -> None:
        if stop.is_set():
            raise Interrupted(signal.SIGTERM)

    def worker() -> None:
        try:
            engine.runner.run(commands[0], cwd=tree, log_path=logs[0], timeout=WAIT_S,
                              jobs_dir=jobs, on_tick=stop_when_asked)
        except BaseException as exc:  # noqa: BLE001 - what the test checks
            caught["worker"] = exc

    def press_ctrl_c() -> None:
        for log in logs:
            wait_for_line(log, "started")
        caught["ids"] = in_flight(jobs)
        stop.set()
        os.kill(os.getpid(), signal.SIGINT)

    threads = [threading.Thread(target=worker), threading.Thread(target=press_ctrl_c)]
    for thread in threads:
        thread.start()
    with pytest.raises(KeyboardInterrupt) as main:
        engine.runner.run(commands[1], cwd=tree, log_path=logs[1], timeout=WAIT_S,
                          jobs_dir=jobs)
    for thread in threads:
        thread.join()
    assert isinstance(caught["worker"], Interrupted)
    ids = list(caught["ids"].values())
    assert len(ids) == 2
    for exc in (caught["worker"], main.value):
        assert len(exc.__notes__) == 1
        assert re.fullmatch(rf"{engine.name} job (\S+) stopped on the cluster", exc.__notes__[0])
    for job_id in ids:
        assert engine.state(job_id) == engine.stopped
    for command in commands:
        wait_for(lambda c=command: not process_running(c.split("; ")[-1]), command, WAIT_S)
    assert in_flight(jobs) == {}


def test_a_job_leaked_by_a_killed_loop_is_cancelled_when_the_next_one_starts(engine, tree,
                                                                              tmp_path):
    jobs, log, command = tmp_path / "jobs", tmp_path / "run.log", sleeper()
    script = (f"from pathlib import Path\nfrom autoresearch import cluster\n"
              f"{engine.make}.run({command!r}, cwd=Path({str(tree)!r}), "
              f"log_path=Path({str(log)!r}), timeout=600, jobs_dir=Path({str(jobs)!r}))\n")
    loop = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_for_line(log, "started")
    finally:
        loop.kill()  # SIGKILL: no cleanup runs
        loop.wait()
    [job_id] = in_flight(jobs).values()
    assert engine.state(job_id) == "RUNNING"  # the leak is real
    assert cluster.cancel_leftovers(jobs) == [f"{engine.name} job {job_id}"]
    assert_gone(engine, job_id, command)
    assert in_flight(jobs) == {}
    assert cluster.cancel_leftovers(jobs) == []


def test_a_job_recorded_but_never_submitted_leaves_nothing_behind(engine, tmp_path):
    jobs = tmp_path / "jobs"
    records.write(jobs, "autoresearch-0000000000000000", engine.name,
                  **({"address": engine.runner.address} if engine.name == "ray" else {}))
    assert cluster.cancel_leftovers(jobs) == []
    assert in_flight(jobs) == {}


def test_preflight_passes_when_the_cluster_sees_the_tree(engine, tree, tmp_path):
    engine.runner.preflight(tree, jobs_dir=tmp_path / "jobs")
    assert sorted(p.name for p in tree.iterdir()) == ["train.py"]
    assert in_flight(tmp_path / "jobs") == {}


# -- Slurm only ---------------------------------------------------------------------------

def test_slurm_a_tree_the_nodes_cannot_see_is_a_one_line_error(slurm_cluster, tmp_path):
    if slurm_cluster.hidden is None:
        pytest.skip("this container cannot make a mount namespace for the node")
    tree = slurm_cluster.hidden / "project"
    tree.mkdir()
    with pytest.raises(EnvironmentProblem) as caught:
        cluster.SlurmRunner().preflight(tree, jobs_dir=tmp_path / "jobs")
    assert re.fullmatch(
        rf"runner slurm: job \d+ on node {slurm_cluster.node} could not read "
        rf"{tree}/\.autoresearch-probe-[0-9a-f]{{16}} \(.+\); the experiment's tree must be on "
        r"a filesystem the compute nodes share: put the project \(or work_dir\) there",
        str(caught.value))
    assert in_flight(tmp_path / "jobs") == {}


def test_slurm_options_sbatch_refuses_are_a_one_line_error(slurm_cluster, tree, tmp_path):
    with pytest.raises(EnvironmentProblem) as caught:
        cluster.SlurmRunner(["--gres=gpu:1"]).run("true", cwd=tree, log_path=tmp_path / "log",
                                                  timeout=10, jobs_dir=tmp_path / "jobs")
    assert str(caught.value).startswith(
        "runner slurm: sbatch refused the job (slurm_args: --gres=gpu:1): sbatch: error: ")
    assert "\n" not in str(caught.value)
    assert in_flight(tmp_path / "jobs") == {}


def test_slurm_srun_as_a_prefix_ends_its_job_when_the_run_times_out(slurm_cluster, tree, tmp_path):
    """docs/cluster.md: of the prefixes, srun is one that stops the remote command."""
    command = sleeper()
    log = tmp_path / "run.log"
    result = cluster.PrefixRunner("srun --job-name=prefixed --").run(
        command, cwd=tree, log_path=log, timeout=3, jobs_dir=tmp_path / "jobs")
    assert result.timed_out and "srun: forcing job termination" in log.read_text()
    wait_for(lambda: not process_running(command.split("; ")[-1]), command, WAIT_S)
    jobs = subprocess.run(["squeue", "--noheader", "--name=prefixed", "--format=%T"],
                          capture_output=True, text=True, check=True).stdout
    assert jobs == ""  # nothing pending or running


# -- Ray only -------------------------------------------------------------------------------

def test_ray_each_job_gets_the_tree_alone_without_git_or_links_out(ray_cluster, tree, tmp_path,
                                                                    git):
    (tmp_path / "venv").mkdir()
    (tree / ".venv").symlink_to(tmp_path / "venv")
    git(tree, "init", "-q")
    log = tmp_path / "run.log"
    listings = []
    for _ in range(2):  # the same tree twice: Ray would reuse the first job's directory
        cluster.RayRunner(ray_cluster.address).run(
            "ls -A; pwd; touch left-behind", cwd=tree, log_path=log, timeout=WAIT_S,
            jobs_dir=tmp_path / "jobs")
        *listed, where = log.read_text().splitlines()
        listings.append(listed)
        assert where != str(tree)  # it ran in the shipped copy
    assert listings == [["train.py"], ["train.py"]]
    assert sorted(p.name for p in tree.iterdir()) == [".git", ".venv", "train.py"]


def test_ray_a_job_no_node_can_take_fails_preflight_after_its_queue_timeout(ray_cluster, tree,
                                                                           tmp_path):
    jobs = tmp_path / "jobs"
    runner = cluster.RayRunner(ray_cluster.address, {"GPU": 1}, queue_timeout=2)
    with pytest.raises(EnvironmentProblem) as caught:
        runner.preflight(tree, jobs_dir=jobs)
    assert re.fullmatch(
        r"runner ray: the probe job (autoresearch-[0-9a-f]{16}) did not finish: the job waited "
        r"\d+ s in the queue without starting \(queue_timeout 2 s\); the cluster did not "
        r"confirm it stopped; check that the cluster has what ray_resources or slurm_args ask "
        r"for", str(caught.value))
    # Ray cannot stop a pending job (ray-project/ray#58353): the record stays for the next
    # loop, which stops it once Ray can.
    assert list(in_flight(jobs)) == [re.search(r"autoresearch-\w+", str(caught.value))[0]]


def test_ray_an_unreachable_cluster_is_a_one_line_error(tmp_path):
    pytest.importorskip("ray.job_submission", reason="Ray is not installed")
    from cluster_fixtures import free_port

    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EnvironmentProblem) as caught:
        cluster.RayRunner(address).preflight(tmp_path, jobs_dir=tmp_path / "jobs")
    message = str(caught.value)
    assert message.startswith(f"runner ray: cannot reach the Ray cluster at {address} (")
    assert message.endswith("); start one with 'ray start --head' or set ray_address to its "
                            "dashboard (http://HEAD:8265)")
    assert "\n" not in message
