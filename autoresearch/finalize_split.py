"""``finalize --split``: one branch per contributing change, each reviewable as its own pull
request.

Each branch (``final_branches.split_branch``) is one commit on the starting point that makes
only that change: its files merged three ways onto the starting point (ours = the starting
point, base = the keep's parent, theirs = the keep). A change that does not apply alone (it
builds on an earlier change's lines) is reported and gets no branch. Only ``commit-tree`` and
``branch --force`` run; branches of an earlier run that this one does not write are left as
they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoresearch import kept_change
from autoresearch.final_branches import split_branch, title_prefix
from autoresearch.git import Repo
from autoresearch.kept_change import KeptChange
from autoresearch.results import format_delta


@dataclass(frozen=True)
class Split:
    change: KeptChange
    branch: str | None  # None: not branched
    why_not: str = ""
    sha: str = ""


def _message(tag: str, change: KeptChange, metric: str) -> str:
    e = change.experiment
    delta = format_delta(e.delta)
    title = f"{title_prefix(tag)} {kept_change.one_line(e.description)}"
    return (f"{title}{f' ({metric} {delta})' if delta else ''}\n\n"
            f"Experiment #{e.number} of autoresearch/{tag} (commit {change.commit[:7]}), "
            "applied alone on the starting point by 'autoresearch finalize --split'.\n")


def split(repo: Repo, tag: str, start: str, changes: Sequence[KeptChange],
          metric: str) -> list[Split]:
    """Write one branch per change that applies alone on ``start``; what was done to each."""
    done = []
    for change in changes:
        files = kept_change.apply(repo, start, change)
        if not files:
            why = ("does not apply alone on the starting point" if files is None
                   else "changes nothing on the starting point")
            done.append(Split(change, None, why))
            continue
        sha = repo.commit_with(start, files, _message(tag, change, metric))
        branch = split_branch(tag, change)
        repo.set_branch(branch, sha)
        done.append(Split(change, branch, sha=sha))
    return done


def report(splits: Sequence[Split], start: str) -> str:
    """What --split did: the branches written, then the changes left unbranched."""
    made = [s for s in splits if s.branch]
    lines = [f"--split: {len(made)} branch{'es' if len(made) != 1 else ''}, one commit each on "
             f"the starting point {start[:7]}:"]
    lines += [f"  {s.branch}  {s.change.label}" for s in made]
    lines += [f"  not split: {s.change.label}: {s.why_not}" for s in splits if not s.branch]
    return "\n".join(lines)
