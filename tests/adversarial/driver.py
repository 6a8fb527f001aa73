"""Running one adversarial case: its project, its agent, its loops, and what they left.

A case's directory (``root``) lies outside /tmp where it can (the strict sandbox gives the
agent a private /tmp, which would hide the project whatever the tool hides): the project,
the user's HOME, and the exchange directory through which the test signals the agent
(``release``) and the agent's shell would leave proof of an injection.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from helpers import cli, environment, git, start, wait_until, write_ml_project

from adversarial import world

AGENTS = Path(__file__).resolve().parent / "agents"
AGENT_PYTHON = os.path.realpath(sys.executable)  # a venv in /tmp is hidden from a strict agent
TAG = "adv"
TRAIN = 'import prepare\nVALUE = 1.0\nprint(f"val_bpb: {VALUE * prepare.SCALE:.6f}")\n'
PREPARE = "SCALE = 1.0\n"


def outside_tmp_problem() -> str | None:
    """Why a strict agent could not read its interpreter here, if it could not (its scripts
    are copied into the case's directory, so where the checkout lies does not matter)."""
    if AGENT_PYTHON == "/tmp" or AGENT_PYTHON.startswith("/tmp/"):
        return (f"the interpreter ({AGENT_PYTHON}) is under /tmp, which the strict sandbox "
                "makes private")
    if not os.access("/var/tmp", os.W_OK):
        return "/var/tmp is not writable: the strict cases need a directory outside /tmp"
    return None


@dataclass
class Run:
    """One case at one level: where it runs and what it produced."""

    root: Path
    level: str
    agent: str | None
    config: dict = field(default_factory=dict)
    token: str = field(default_factory=lambda: f"adv-{uuid.uuid4().hex[:12]}")
    tag: str = TAG
    done: list[subprocess.CompletedProcess] = field(default_factory=list)
    user_commits: set[str] = field(default_factory=set)
    snapshot: world.Snapshot | None = None
    aside: dict = field(default_factory=dict)  # what a case's act keeps for its check

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def state(self) -> Path:
        return self.project / ".git" / "autoresearch" / "root"

    def copy_of(self, worker: int = 1) -> Path:
        """The agent's copy while it works."""
        return self.state / "agent" / "copies" / f"w{worker}" / "project"

    def agent_stderr(self, worker: int = 1) -> str:
        path = self.state / "agent" / f"w{worker}" / "command.stderr"
        return path.read_text(errors="replace") if path.exists() else ""

    def reports(self, worker: int = 1) -> dict[str, str]:
        """What the last call's misbehaviours did: {what: "done" or an errno name}."""
        found = {}
        for line in self.agent_stderr(worker).splitlines():
            if line.startswith("ADV "):
                what, _, outcome = line[4:].partition(": ")
                found[what] = outcome
        return found

    # -- making it -------------------------------------------------------------------------
    def make(self) -> None:
        self.exchange.mkdir(parents=True)
        settings = {"run_command": f"{shlex.quote(sys.executable)} train.py",
                    "time_budget": 20, "agent_timeout": 60, **self.config}
        if self.agent:
            scripts = shutil.copytree(AGENTS, self.root / "agents",
                                      ignore=shutil.ignore_patterns("__pycache__"))
            settings |= {"agent": "command", "agent_command":
                         f"{shlex.quote(AGENT_PYTHON)} {shlex.quote(str(scripts / self.agent))}.py"}
        write_ml_project(self.project, TRAIN, settings)
        (self.project / "prepare.py").write_text(PREPARE)
        git(self.project, "init", "-q", "-b", "main")
        git(self.project, "add", "-A")
        git(self.project, "commit", "-q", "-m", "start")
        world.build(self.project)

    def env(self, **extra: str) -> dict[str, str]:
        return environment(self.root, AUTORESEARCH_SANDBOX=self.level, ADV_TAG=self.tag,
                           ADV_EXCHANGE=str(self.exchange), ADV_TOKEN=self.token,
                           ADV_PROTECTED="prepare.py", **extra)

    # -- driving it --------------------------------------------------------------------------
    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        done = cli(self.project, *args, env=self.env(**extra), timeout=180)
        self.done.append(done)
        return done

    def loop(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        return self.cli("loop", "--tag", self.tag, *args, **extra)

    def start_loop(self, *args: str) -> subprocess.Popen:
        return start(self.project, "loop", "--tag", self.tag, *args, env=self.env(),
                     stdout=subprocess.PIPE)

    def finish(self, proc: subprocess.Popen) -> subprocess.CompletedProcess:
        out, err = proc.communicate(timeout=180)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        self.done.append(done)
        return done

    def wait_for_agent(self, proc: subprocess.Popen, worker: int = 1) -> None:
        marker = self.copy_of(worker) / "at-work"
        wait_until(marker.exists, proc, "the agent at work", timeout=120)

    def release(self) -> None:
        (self.exchange / "release").write_text("")

    def restart(self) -> subprocess.CompletedProcess:
        """The next start: recovery, the mirrors checked against the ledger, no agent."""
        return self.cli("setup", "--tag", self.tag, "--resume")

    def output(self) -> str:
        return "".join((d.stdout or "") + (d.stderr or "") for d in self.done)
