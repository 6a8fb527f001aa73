"""Real cluster engines for the tests: a local Ray head and a single-node Slurm cluster.

Each is started once per test session by a session fixture (``ray_cluster``,
``slurm_cluster``) and stopped after it, by the ids of the processes it started; the tests
are skipped, with the reason, only where the engine is not installed (``.ci/run`` installs
both). Registered through ``pytest_plugins`` in conftest.py, so each starts once.

Both run privately: their own ports, directories and (for Slurm) munge socket and key, so
they disturb no other cluster on the machine. The Slurm node runs in a mount namespace of
its own in which ``SlurmCluster.hidden`` is an empty tmpfs: a tree created there is one the
cluster cannot see (the test for a filesystem that is not shared).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

START_TIMEOUT_S = 90.0


# -- processes we started ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes: set[psutil.Process], grace_s: float = 5.0) -> None:
    """SIGTERM ``processes`` and what they started, SIGKILL what is left after ``grace_s``."""
    for process in list(processes):
        try:
            processes.update(process.children(recursive=True))
        except psutil.Error:
            pass
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(processes), timeout=grace_s)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace_s)


def wait_for(condition, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.2)


def process_running(marker: str) -> bool:
    """Whether a process whose command line contains ``marker`` runs (not a zombie)."""
    for process in psutil.process_iter(["cmdline", "status"]):
        if (process.info["status"] != psutil.STATUS_ZOMBIE
                and marker in " ".join(process.info["cmdline"] or [])):
            return True
    return False


# -- Ray -----------------------------------------------------------------------------------

@dataclass
class RayCluster:
    address: str  # the dashboard, for the Jobs API
    temp_dir: Path
    group: int  # the process group of everything `ray start` started

    def members(self) -> set[psutil.Process]:
        found = set()
        for process in psutil.process_iter(["cmdline"]):
            try:
                if os.getpgid(process.pid) == self.group or any(
                        str(self.temp_dir) in part for part in process.info["cmdline"] or []):
                    found.add(process)
            except (OSError, psutil.Error):
                pass
        return found

    def stop(self) -> None:
        stop_processes(self.members())
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def ray_executable() -> str | None:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else shutil.which("ray")


def start_ray() -> RayCluster:
    """``ray start --head`` on private ports and a private temp dir; waits for the Jobs API."""
    ray = ray_executable()
    temp_dir = Path(tempfile.mkdtemp(prefix="ar-ray-", dir="/tmp"))  # short: socket paths
    dashboard = free_port()
    ports = {"--port": free_port(), "--dashboard-port": dashboard,
             "--ray-client-server-port": free_port(),
             "--dashboard-agent-listen-port": free_port(),
             "--dashboard-agent-grpc-port": free_port(),
             "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port()}
    argv = [ray, "start", "--head", "--num-cpus", "2", "--dashboard-host", "127.0.0.1",
            "--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", str(temp_dir),
            "--disable-usage-stats", *[f"{flag}={port}" for flag, port in ports.items()]]
    starter = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, env={**os.environ, "RAY_ADDRESS": ""})
    cluster = RayCluster(f"http://127.0.0.1:{dashboard}", temp_dir, starter.pid)
    output = starter.communicate(timeout=START_TIMEOUT_S)[0].decode(errors="replace")
    if starter.returncode != 0:
        cluster.stop()
        raise RuntimeError(f"ray start failed: {output[-2000:]}")
    try:
        wait_for(lambda: _answers(f"{cluster.address}/api/version"), "the Ray dashboard")
    except RuntimeError:
        cluster.stop()
        raise
    return cluster


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A local Ray head for the session (``.address`` is its dashboard)."""
    pytest.importorskip("ray.job_submission",
                        reason="Ray is not installed: pip install -e '.[cluster]'")
    if ray_executable() is None:
        pytest.skip("the 'ray' command is not installed: pip install -e '.[cluster]'")
    cluster = start_ray()
    try:
        yield cluster
    finally:
        cluster.stop()


# -- Slurm ---------------------------------------------------------------------------------

SLURM_DAEMONS = ("munged", "slurmctld", "slurmd")


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    node: str
    hidden: Path | None  # a directory the node does not see (None: no mount namespaces here)
    pids: tuple[int, ...] = ()

    def stop(self) -> None:
        processes = set()
        for pid in self.pids:
            try:
                processes.add(psutil.Process(pid))
            except psutil.Error:
                pass
        stop_processes(processes)
        shutil.rmtree(self.root, ignore_errors=True)


SLURM_CONF = """\
ClusterName=autoresearch
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
KillWait=5
StateSaveLocation={root}/ctld
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName={node} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def slurm_missing() -> str | None:
    """Why a Slurm cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting Slurm's daemons needs root"
    missing = [d for d in (*SLURM_DAEMONS, "sbatch", "mungekey") if shutil.which(d) is None]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} missing): "
                "apt-get install slurmctld slurmd slurm-client munge")
    return None


def start_slurm() -> SlurmCluster:
    """munged, slurmctld and slurmd with a private config; SLURM_CONF names it."""
    root = Path(tempfile.mkdtemp(prefix="ar-slurm-", dir="/tmp"))
    node = socket.gethostname().split(".")[0]
    for sub in ("munge", "ctld", "spool", "hidden"):
        (root / sub).mkdir()
    (root / "munge").chmod(0o755)
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(node=node, root=root, ctld_port=free_port(),
                                      d_port=free_port()))
    key = root / "munge" / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
    key.chmod(0o600)
    cluster = SlurmCluster(root, conf, node, None)
    try:
        subprocess.run(["munged", "--force", f"--socket={root}/munge/socket",
                        f"--key-file={key}", f"--pid-file={root}/munge/munged.pid",
                        f"--log-file={root}/munge/munged.log",
                        f"--seed-file={root}/munge/seed"], check=True)
        subprocess.run(["slurmctld", "-f", str(conf)], check=True)
        hidden = root / "hidden"
        namespaced = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             f"mount -t tmpfs tmpfs {hidden} && exec slurmd -f {conf}"], capture_output=True, check=False)
        if namespaced.returncode == 0:
            cluster.hidden = hidden
        else:  # no mount namespaces in this container: the node sees everything
            subprocess.run(["slurmd", "-f", str(conf)], check=True)
        cluster.pids = tuple(_pid(root / name) for name in (
            "munge/munged.pid", "slurmctld.pid", "slurmd.pid"))
        os.environ["SLURM_CONF"] = str(conf)
        wait_for(lambda: _node_idle(), "the Slurm node going idle")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _pid(path: Path) -> int:
    wait_for(path.exists, f"{path.name} appearing", timeout=10)
    return int(path.read_text().split()[0])


def _node_idle() -> bool:
    done = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() == "idle"


def job_state(job_id: str) -> str:
    """The state squeue reports for ``job_id`` (any state, while slurmctld remembers it)."""
    done = subprocess.run(["squeue", "--noheader", "--states=all", f"--jobs={job_id}",
                           "--format=%T"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A single-node Slurm cluster for the session (as root); SLURM_CONF points at it."""
    reason = slurm_missing()
    if reason:
        pytest.skip(reason)
    previous = os.environ.get("SLURM_CONF")
    cluster = start_slurm()
    try:
        yield cluster
    finally:
        cluster.stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
