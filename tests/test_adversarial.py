"""The adversarial suite (issue 13): every misbehaviour at both sandbox levels.

Each case (tests/adversarial/cases.py) runs the real CLI on a real repository with a
misbehaving ``command`` agent (tests/adversarial/agents/) or run, around a user who has work
of their own, then a next start (``setup --resume``), then the invariants
(tests/adversarial/invariants.py). At each level every case must hold every invariant, but
for the limits listed in :data:`LIMITS`, which docs/security.md mirrors row by row
(:func:`test_the_limits_are_the_documented_ones`): under ``strict`` only the run's own
misbehaviours (the run is not sealed by default), under ``basic`` also what an unconfined
agent can do. Strict cases are skipped, with the reason, only where bubblewrap cannot run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from adversarial import invariants, world
from adversarial.cases import CASES
from adversarial.driver import Run, outside_tmp_problem

from autoresearch import sandbox

LEVELS = ("strict", "basic")
STRICT, WHY = sandbox.probe()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "security.md"


@dataclass(frozen=True)
class Limit:
    """Invariants a case breaks at a level: always (``must``) or depending on timing
    (``may``); a case that no longer breaks ``must`` is stopped, and the table is wrong."""

    must: frozenset = frozenset()
    may: frozenset = frozenset()
    why: str = ""


def names(text: str) -> frozenset:
    return frozenset(n.strip() for n in text.split(",") if n.strip())


def limit(must: str = "", may: str = "", why: str = "") -> Limit:
    return Limit(names(must), names(may), why)


# (case, level) -> what gets through. Mirrored by the "limit" cells of docs/security.md.
UNCONFINED = "an unconfined agent (basic) can write anywhere the user can"
UNSEALED_RUN = ("the run is not sealed by default (sandbox_run: basic): the candidate's code "
                "reaches the state from its worktree; sandbox_run: strict stops it (below)")
LIMITS: dict[tuple[str, str], Limit] = {
    ("forge_cache", "basic"): limit("fake keep", why=UNCONFINED),
    ("hide_in_state", "basic"): limit("fake keep", why=UNCONFINED),
    ("forge_ledger", "basic"): limit("fake keep, only targets", why=UNCONFINED),
    ("move_refs", "basic"): limit("only targets", why=UNCONFINED),
    ("reset_branch", "basic"): limit("branch", why=UNCONFINED),
    ("rewrite_untracked", "basic"): limit("user's work", why=UNCONFINED),
    ("checkout_main", "basic"): limit("user's work", why=UNCONFINED),
    ("background_swap", "basic"): limit(may="fake keep, processes", why=UNCONFINED),
    ("other_trees", "basic"): limit("user's work", may="fake keep", why=UNCONFINED),
    ("run_fake_metric", "strict"): limit(why="output parsing cannot tell"),
    ("run_fake_metric", "basic"): limit(why="output parsing cannot tell"),
    ("run_plants_filter", "strict"): limit("fake keep", why=UNSEALED_RUN),
    ("run_plants_filter", "basic"): limit("fake keep", why=UNSEALED_RUN),
    ("run_forges_ledger", "strict"): limit("fake keep", why=UNSEALED_RUN),
    ("run_forges_ledger", "basic"): limit("fake keep", why=UNSEALED_RUN),
}


def skip_reason(level: str) -> str | None:
    if level != "strict":
        return None
    if STRICT != "strict":
        return f"bubblewrap cannot run here: {WHY}"
    return outside_tmp_problem()


@pytest.fixture
def case_root(tmp_path: Path):
    """The case's directory: outside /tmp where possible (see adversarial/driver.py)."""
    root = Path(tempfile.mkdtemp(prefix="adv-", dir="/var/tmp")) \
        if os.access("/var/tmp", os.W_OK) else tmp_path / "case"
    yield root
    for process in invariants.leftovers(f"adv-{root.name}", root):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    if not os.environ.get("ADV_KEEP"):  # ADV_KEEP=1 keeps it to look at
        shutil.rmtree(root, ignore_errors=True)


def params():
    for name, case in CASES.items():
        for level in LEVELS:
            marks = [pytest.mark.slow] if case.slow else []
            yield pytest.param(case, level, id=f"{name}-{level}", marks=marks)


def played(case, level: str, root: Path, config: dict | None = None) -> Run:
    """``case`` at ``level`` (skipped where it cannot run), up to its next start."""
    reason = skip_reason(level)
    if reason:
        pytest.skip(reason)
    run = Run(root, level, case.agent, token=f"adv-{root.name}", config=config or {})
    run.make()
    case.prepare(run)
    run.snapshot = world.snapshot(run.project)
    case.drive(run)
    if case.restart:
        run.restart()
    return run


@pytest.mark.parametrize("case,level", list(params()))
def test_a_misbehaviour_is_stopped_or_a_documented_limit(case, level, case_root):
    run = played(case, level, case_root)
    case.check(run)
    found = invariants.violations(run)
    expected = LIMITS.get((case.name, level), Limit())
    shown = "\n".join(f"  {name}: {what}" for name, what in found.items()) or "  none"
    assert expected.must <= found.keys(), (
        f"now stopped at {level}: remove it from LIMITS and docs/security.md; broke:\n{shown}")
    assert found.keys() <= expected.must | expected.may, f"broke at {level}:\n{shown}"


# -- the table and the docs agree ------------------------------------------------------------

def documented() -> dict[str, dict[str, str]]:
    """{case: {level: cell}} from the threat-model table of docs/security.md."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not line.startswith("|"):
            continue
        for name in re.findall(r"`([a-z_]+)`", cells[1]):
            rows[name] = {"strict": cells[2], "basic": cells[3]}
    return rows


def test_the_limits_are_the_documented_ones():
    docs = documented()
    assert sorted(docs) == sorted(CASES), "every case has one row in docs/security.md"
    said = {(name, level) for name, cells in docs.items() for level, cell in cells.items()
            if cell.lower().startswith("limit")}
    assert said == set(LIMITS)
    for name, cells in docs.items():
        for level, cell in cells.items():
            assert cell.lower().startswith(("stopped", "limit")), (name, level, cell)


# -- the run sealed too (sandbox_run: strict) ------------------------------------------------

RUN_CASES = ("run_plants_hook", "run_plants_filter", "run_forges_ledger")


@pytest.mark.parametrize("name", RUN_CASES)
def test_a_sealed_run_stops_the_runs_own_misbehaviours(name, case_root):
    # the venv's python may live under /tmp, which the sealed run's private /tmp covers
    python = shlex.quote(os.path.realpath(sys.executable))
    run = played(CASES[name], "strict", case_root,
                 {"sandbox_run": "strict", "run_command": f"{python} train.py"})
    assert not (run.project / ".git" / "info" / "attributes").exists() or \
        "filter=" not in (run.project / ".git" / "info" / "attributes").read_text()
    found = invariants.violations(run)
    shown = "\n".join(f"  {what}: {why}" for what, why in found.items())
    assert not found, f"a sealed run let through:\n{shown}"
