"""``autoresearch finalize``: a tag's kept experiments as one commit, ready for a pull request.

The branch ``autoresearch/<tag>-final`` gets ONE commit whose parent is the starting point
and whose tree is the best commit's tree:

- the starting point is the baseline record's commit: ``setup`` measures the baseline at
  the commit the experiment branch starts from;
- the best commit is the last keep of the tag (the tip of ``autoresearch/<tag>`` after a
  loop; a ``revert`` record moves it back to the keep it names).

The message has a title (``autoresearch <tag>: <metric> <baseline> → <best> (<pct>%)``)
and a body listing every kept improvement with its delta. Only ``commit-tree`` and
``branch --force`` run: the experiment branch, the index and the work tree stay as they
were. An existing ``-final`` branch is replaced only when finalize made it (its message
starts with ``autoresearch <tag>:``).

``--verify`` (finalize_verify.py) measures each kept change's contribution again and leaves
out of the final tree those that do not earn their place; the title then gives the final
tree's re-measured value. ``--split`` (finalize_split.py) adds one branch per change (with
``--verify``, per surviving change).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from autoresearch import finalize_split
from autoresearch.errors import UserError
from autoresearch.experiment import Experiment
from autoresearch.final_branches import (
    check_replaceable, final_branch, split_branch, title_prefix,
)
from autoresearch.finalize_verify import Verification, remeasure, table, verify_changes
from autoresearch.git import Repo, open_repo
from autoresearch.kept_change import KeptChange, one_line
from autoresearch.ledger import EVENTS_FILE, experiments
from autoresearch.results import (
    Summary, change_pct, format_delta, format_pct, format_value, summarize,
)

SHA = re.compile(r"[0-9a-f]{4,40}")  # what the loop logs; never an option-like argument
__all__ = ["commit_message", "final_branch", "finalize"]


def kept_in_order(records: Iterable[dict], tag: str) -> list[Experiment]:
    """The kept experiments of ``tag`` that the branch still holds, oldest first: a
    ``revert`` record (the holdout failed) takes back the keeps after the one it names."""
    keeps: list[Experiment] = []
    count = 0
    for record in records:
        details = record["details"]
        if details.get("tag") != tag:
            continue
        if record.get("action") == "experiment_done":
            count += 1
            experiment = Experiment.from_record(record)
            if experiment.kept:  # the seed's records have no number: their position is one
                keeps.append(experiment if experiment.number else replace(experiment,
                                                                          number=count))
        elif record.get("action") == "revert":
            back_to = [i for i, kept in enumerate(keeps) if kept.commit == details.get("to")]
            keeps = keeps[:back_to[-1] + 1] if back_to else keeps
    return keeps


def _kept(keeps: list[Experiment], tag: str) -> tuple[Experiment, list[Experiment]]:
    """The baseline and every keep after it; UserError if there are none."""
    starts = [i for i, experiment in enumerate(keeps) if experiment.prev is None]
    if not starts or starts[0] == len(keeps) - 1:
        raise UserError(f"nothing to finalize: no experiment of tag {tag} was kept beyond the "
                        f"baseline in {EVENTS_FILE}; run 'autoresearch loop' first")
    return keeps[starts[0]], keeps[starts[0] + 1:]


def _verified(repo: Repo, commit: str) -> str | None:
    """The full sha of an existing commit, else None (GitPython's rev_parse would accept
    any 40-hex name without looking it up; rev-parse --verify does look)."""
    try:
        return repo.run("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    except UserError:
        return None


def _resolve(repo: Repo, experiment: Experiment, role: str) -> str:
    """The full sha of a logged experiment's commit; UserError naming it when it is gone."""
    commit = experiment.commit or ""
    found = _verified(repo, commit) if SHA.fullmatch(commit) else None
    if found is None:
        raise UserError(f"the {role} commit {commit[:7] or '(none)'} "
                        f"({experiment.description!r}) is not in this repository: "
                        "was the branch deleted or rewritten?")
    return found


def _change(repo: Repo, experiment: Experiment, role: str) -> KeptChange:
    sha = _resolve(repo, experiment, role)
    parent = _verified(repo, f"{sha}^")
    if parent is None:
        raise UserError(f"the kept commit {sha[:7]} ({experiment.description!r}) has no "
                        "parent: it is not a change on the experiment branch")
    return KeptChange(experiment, sha, parent)


def commit_message(tag: str, summary: Summary, improvements: list[Experiment], total: int,
                   dropped: Iterable[tuple[Experiment, str]] = ()) -> str:
    """The title, then one line per kept improvement: description, delta, reason if unusual;
    then the changes ``--verify`` dropped, with why."""
    title = (f"{title_prefix(tag)} {summary.metric} {format_value(summary.baseline)} → "
             f"{format_value(summary.best)}")
    if summary.best_change_pct is not None:
        title += f" ({format_pct(summary.best_change_pct)})"
    lines = [title, "",
             f"Kept improvements on autoresearch/{tag} ({len(improvements)} of {total} "
             "experiments, the baseline included):", ""]
    for experiment in improvements:
        reason = experiment.reason
        note = f", {reason}" if reason and reason != "improved" else ""
        lines.append(f"- {one_line(experiment.description)} "
                     f"({format_delta(experiment.delta)}{note})")
    dropped = list(dropped)
    if dropped:
        lines += ["", "Left out by 'autoresearch finalize --verify' (measured again without "
                      "each):", ""]
        lines += [f"- {one_line(e.description)} ({why})" for e, why in dropped]
    return "\n".join(lines) + "\n"


def _outcome(branch: str, sha: str, start: str, best: str, summary: Summary, kept: int,
             replaced: bool, verification: Verification | None = None) -> str:
    """The one-paragraph report of what finalize did."""
    change = "" if summary.best_change_pct is None else f", {format_pct(summary.best_change_pct)}"
    tree = f"the tree of the best experiment {best[:7]}"
    plural = "" if kept == 1 else "s"
    counts = f"{kept} kept improvement{plural} of {summary.experiments} experiments"
    if verification is not None:
        dropped = len(verification.checked) - kept
        if dropped:
            tree += f" without the {dropped} change{'' if dropped == 1 else 's'} dropped"
        change = f" measured again{change}"
        counts = f"{kept} of {len(verification.checked)} kept changes verified"
    return (f"{'replaced' if replaced else 'created'} branch {branch}: one commit {sha[:7]} on "
            f"the starting point {start[:7]} with {tree} ({summary.metric} "
            f"{format_value(summary.baseline)} → {format_value(summary.best)}{change}; "
            f"{counts}); autoresearch/{summary.tag} and the work tree are untouched. To open a "
            f"pull request: git push -u origin {branch}")


def _after_verify(summary: Summary, verification: Verification) -> Summary:
    """The summary with the final tree's re-measured value as the best."""
    return replace(summary, best=verification.value,
                   best_change_pct=change_pct(summary.baseline, verification.value))


def _dropped(verification: Verification) -> list[tuple[Experiment, str]]:
    return [(c.change.experiment, f"{c.reason}, contribution "
                                  f"{format_delta(c.contribution) or 'none'}")
            for c in verification.dropped]


def _changes(repo: Repo, improvements: list[Experiment]) -> list[KeptChange]:
    """The kept changes, oldest first; the last one's commit is the best."""
    changes = [_change(repo, experiment, "kept") for experiment in improvements[:-1]]
    return changes + [_change(repo, improvements[-1], "best")]


def _check_branches(repo: Repo, tag: str, splits: list[KeptChange]) -> bool:
    """Whether the -final branch exists (finalize's, so replaceable); raise before anything
    is measured or written when it or a split branch must not be replaced."""
    for change in splits:
        check_replaceable(repo, split_branch(tag, change), tag)
    return check_replaceable(repo, final_branch(tag), tag)


def _write_final(repo: Repo, tag: str, start: str, changes: list[KeptChange], summary: Summary,
                 total: int, replaced: bool, verification: Verification | None) -> str:
    """Write the -final branch (the best tree, or the verified one); say what was done."""
    best = changes[-1].commit
    tree, kept, dropped = best, changes, []
    if verification is not None:
        tree, kept, dropped = verification.tree, verification.kept, _dropped(verification)
        summary = _after_verify(summary, verification)
    message = commit_message(tag, summary, [c.experiment for c in kept], total, dropped)
    sha = repo.commit_tree(tree, start, message)
    branch = final_branch(tag)
    repo.set_branch(branch, sha)
    return _outcome(branch, sha, start, best, summary, len(kept), replaced, verification)


def finalize(project_dir: Path, tag: str, records: list[dict], *, verify: bool = False,
             split: bool = False, say: Callable[[str], None] = lambda text: None) -> str:
    """Make ``autoresearch/<tag>-final`` from the kept experiments of ``tag`` (with
    ``verify``, only those that still contribute; with ``split``, a branch per change too);
    say what was done. ``say`` reports progress while ``verify`` measures."""
    mine = experiments(records, tag)
    baseline, improvements = _kept(kept_in_order(records, tag), tag)
    summary = summarize(mine)
    metric = summary.metric or "metric"
    texts, verification = [], None
    with open_repo(project_dir) as repo:
        start = _resolve(repo, baseline, "baseline")
        changes = _changes(repo, improvements)
        replaced = _check_branches(repo, tag, changes if split else [])
        if verify:
            with remeasure(project_dir, repo) as measure:
                verification = verify_changes(repo, measure, changes[-1].commit, changes,
                                              summary.noise_floor, say)
            texts.append(table(verification, metric))
        texts.append(_write_final(repo, tag, start, changes, summary, len(mine), replaced,
                                  verification))
        if split:
            kept = verification.kept if verification else changes
            texts.append(finalize_split.report(
                finalize_split.split(repo, tag, start, kept, metric), start))
    return "\n\n".join(texts)
