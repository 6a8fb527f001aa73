"""autoresearch finalize: one squashed commit on the starting point, made on a real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autoresearch import kept_change, ledger
from autoresearch.errors import ConfigError, EnvironmentProblem, ExitCode, UserError
from autoresearch.experiment import Experiment
from autoresearch.finalize import finalize, kept_in_order
from autoresearch.git import open_repo
from autoresearch.kept_change import KeptChange

TAG = "t1"
FINAL = f"autoresearch/{TAG}-final"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def identity(tmp_path, monkeypatch):
    """A pinned author and committer; no global or system git config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test Author")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


class Experiments:
    """A repository with a start commit on main and branch autoresearch/t1 grown like the loop."""

    def __init__(self, root: Path, train: str = "lr = 0.01\n"):
        self.root = root
        self.records: list[dict] = []
        self.best: float | None = None
        git(root, "init", "--quiet", "--initial-branch=main")
        (root / "train.py").write_text(train)
        (root / "README.md").write_text("a project\n")
        git(root, "add", "--all")
        git(root, "commit", "--quiet", "--message", "start")
        self.start = git(root, "rev-parse", "HEAD")
        git(root, "checkout", "--quiet", "-b", f"autoresearch/{TAG}")

    def log(self, status: str, value: float, commit: str, description: str, reason: str,
            tag: str = TAG) -> None:
        delta = None if self.best is None else round(value - self.best, 10)
        details = {"status": status, "metric": "val_bpb", "value": value, "prev": self.best,
                   "delta": delta, "commit": commit[:7], "full_commit": commit,
                   "description": description, "memory_gb": 0.0, "tag": tag,
                   "reason": reason, "direction": "lower_is_better"}
        self.records.append(ledger.append_event(
            self.root / ledger.EVENTS_FILE, "experiment_done", "success", details))
        if status == "keep":
            self.best = value

    def baseline(self, value: float = 1.0) -> None:
        self.log("keep", value, self.start, "baseline", "baseline")

    def experiment(self, text: str, value: float, description: str, keep: bool) -> str:
        """Edit train.py and commit it; on a discard, reset to the best as the loop does."""
        best = git(self.root, "rev-parse", "HEAD")
        (self.root / "train.py").write_text(text)
        git(self.root, "commit", "--quiet", "--all", "--message", description)
        sha = git(self.root, "rev-parse", "HEAD")
        if not keep:
            git(self.root, "reset", "--quiet", "--hard", best)
        self.log("keep" if keep else "discard", value, sha, description,
                 "improved" if keep else "not improved")
        return sha


@pytest.fixture
def repo(tmp_path, identity) -> Experiments:
    """Baseline, keep, discard (reset), keep on autoresearch/t1."""
    experiments = Experiments(tmp_path)
    experiments.baseline()
    experiments.experiment("lr = 0.02\n", 0.95, "raise the learning rate", keep=True)
    experiments.experiment("lr = 0.5\n", 1.30, "far too high a rate", keep=False)
    experiments.best_sha = experiments.experiment("lr = 0.02\nwarmup = 100\n", 0.90,
                                                  "add warmup", keep=True)
    return experiments


def test_final_branch_is_one_commit_with_the_best_tree(repo):
    branch_before = git(repo.root, "rev-parse", f"autoresearch/{TAG}")
    report = finalize(repo.root, TAG, repo.records)
    assert git(repo.root, "rev-list", "--count", f"{repo.start}..{FINAL}") == "1"
    assert git(repo.root, "rev-parse", f"{FINAL}^") == repo.start
    assert git(repo.root, "rev-parse", f"{FINAL}^{{tree}}") == git(
        repo.root, "rev-parse", f"{repo.best_sha}^{{tree}}")
    assert git(repo.root, "rev-parse", f"autoresearch/{TAG}") == branch_before == repo.best_sha
    assert report.startswith(f"created branch {FINAL}: one commit ")
    assert "val_bpb 1 → 0.9, -10.00%; 2 kept improvements of 4 experiments" in report


def test_message_has_the_title_and_lists_the_kept_improvements(repo):
    finalize(repo.root, TAG, repo.records)
    message = git(repo.root, "log", "-1", "--format=%B", FINAL)
    lines = message.splitlines()
    assert lines[0] == f"autoresearch {TAG}: val_bpb 1 → 0.9 (-10.00%)"
    assert "- raise the learning rate (-0.05)" in lines
    assert "- add warmup (-0.05)" in lines
    assert "far too high a rate" not in message


def test_work_tree_head_and_index_stay_untouched(repo):
    (repo.root / "notes.txt").write_text("my own untracked file\n")
    head = git(repo.root, "symbolic-ref", "HEAD")
    status = git(repo.root, "status", "--porcelain")
    finalize(repo.root, TAG, repo.records)
    assert git(repo.root, "symbolic-ref", "HEAD") == head == f"refs/heads/autoresearch/{TAG}"
    assert git(repo.root, "status", "--porcelain") == status
    assert (repo.root / "train.py").read_text() == "lr = 0.02\nwarmup = 100\n"


def test_running_again_replaces_its_own_branch(repo):
    finalize(repo.root, TAG, repo.records)
    repo.experiment("lr = 0.03\nwarmup = 100\n", 0.85, "a bit higher", keep=True)
    report = finalize(repo.root, TAG, repo.records)
    assert report.startswith(f"replaced branch {FINAL}")
    assert git(repo.root, "rev-parse", f"{FINAL}^") == repo.start
    assert "- a bit higher (-0.05)" in git(repo.root, "log", "-1", "--format=%B", FINAL)


def test_a_branch_finalize_did_not_make_is_kept(repo):
    git(repo.root, "branch", FINAL, repo.start)
    with pytest.raises(ConfigError) as caught:
        finalize(repo.root, TAG, repo.records)
    assert str(caught.value).startswith(f"branch {FINAL} exists and was not made by")
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert git(repo.root, "rev-parse", FINAL) == repo.start


def test_a_checked_out_final_branch_is_not_replaced(repo):
    finalize(repo.root, TAG, repo.records)
    git(repo.root, "checkout", "--quiet", FINAL)
    with pytest.raises(EnvironmentProblem, match="is checked out"):
        finalize(repo.root, TAG, repo.records)


def test_nothing_beyond_the_baseline_is_nothing_to_finalize(tmp_path, identity):
    experiments = Experiments(tmp_path)
    experiments.baseline()
    experiments.experiment("lr = 0.5\n", 1.3, "worse", keep=False)
    with pytest.raises(UserError, match="^nothing to finalize: no experiment of tag t1 was kept"):
        finalize(tmp_path, TAG, experiments.records)
    assert git(tmp_path, "branch", "--list", FINAL) == ""


def test_other_tags_are_ignored(repo):
    repo.log("keep", 0.1, repo.start, "another night", "improved", tag="t2")
    finalize(repo.root, TAG, repo.records)
    assert "another night" not in git(repo.root, "log", "-1", "--format=%B", FINAL)


def test_a_lost_best_commit_is_named(repo):
    repo.records[-1]["details"].update(full_commit="0" * 40, commit="0000000")
    with pytest.raises(UserError, match="the best commit 0000000 .*'add warmup'.* is not in"):
        finalize(repo.root, TAG, repo.records)


# -- one kept change, carried by a three-way merge; --split ----------------------------------


def kept_change_of(repo: Experiments, number: int) -> KeptChange:
    """The kept change logged as the ``number``-th record (0: the baseline)."""
    experiment = Experiment.from_record(repo.records[number])
    return KeptChange(experiment, experiment.commit, git(repo.root, "rev-parse",
                                                         f"{experiment.commit}^"))


def test_a_change_reverts_and_applies_by_a_three_way_merge(tmp_path, identity):
    repo = Experiments(tmp_path, "lr = 0.01\nbatch = 8\n")
    repo.baseline()
    repo.experiment("lr = 0.02\nbatch = 8\n", 0.95, "raise the learning rate", keep=True)
    best = repo.experiment("lr = 0.02\nbatch = 8\nwarmup = 100\n", 0.9, "warm up", keep=True)
    raise_lr, warm_up = kept_change_of(repo, 1), kept_change_of(repo, 2)
    with open_repo(repo.root) as r:
        assert kept_change.revert(r, best, raise_lr) == {
            "train.py": ("100644", b"lr = 0.01\nbatch = 8\nwarmup = 100\n")}
        assert kept_change.apply(r, repo.start, warm_up) == {
            "train.py": ("100644", b"lr = 0.01\nbatch = 8\nwarmup = 100\n")}
        assert kept_change.apply(r, best, warm_up) == {}  # already there


def test_a_change_next_to_a_later_one_does_not_revert_or_apply_alone(repo):
    """git's three-way merge counts changes to adjacent lines as a conflict: finalize
    reports them rather than guess."""
    with open_repo(repo.root) as r:
        assert kept_change.revert(r, repo.best_sha, kept_change_of(repo, 1)) is None
        assert kept_change.apply(r, repo.start, kept_change_of(repo, 3)) is None


def test_split_branches_each_change_that_applies_alone(repo):
    report = finalize(repo.root, TAG, repo.records, split=True)
    first = f"{FINAL}-2-raise-the-learning-rate"
    assert report.splitlines()[-2:] == [
        f"  {first}  #2 {repo.records[1]['details']['commit']} raise the learning rate",
        f"  not split: #4 {repo.best_sha[:7]} add warmup: does not apply alone on the "
        "starting point"]
    assert git(repo.root, "rev-parse", f"{first}^") == repo.start
    assert git(repo.root, "show", f"{first}:train.py") == "lr = 0.02"
    assert git(repo.root, "log", "-1", "--format=%s", first) == (
        f"autoresearch {TAG}: raise the learning rate (val_bpb -0.05)")
    assert git(repo.root, "rev-parse", f"{FINAL}^{{tree}}") == git(
        repo.root, "rev-parse", f"{repo.best_sha}^{{tree}}")


def test_a_split_branch_finalize_did_not_make_stops_it_before_anything_is_written(repo):
    git(repo.root, "branch", f"{FINAL}-2-raise-the-learning-rate", repo.start)
    with pytest.raises(ConfigError, match="-final-2-raise-the-learning-rate exists and was not"):
        finalize(repo.root, TAG, repo.records, split=True)
    assert git(repo.root, "branch", "--list", FINAL) == ""


def test_a_revert_record_takes_back_the_keeps_after_the_one_it_names(repo):
    first = repo.records[1]["details"]["full_commit"]
    ledger.append_event(repo.root / ledger.EVENTS_FILE, "revert", "success",
                        {"tag": TAG, "commit": repo.best_sha, "to": first})
    records = ledger.read_events(repo.root / ledger.EVENTS_FILE)[0]
    assert [e.description for e in kept_in_order(records, TAG)] == [
        "baseline", "raise the learning rate"]
    finalize(repo.root, TAG, records)
    assert git(repo.root, "rev-parse", f"{FINAL}^{{tree}}") == git(
        repo.root, "rev-parse", f"{first}^{{tree}}")
