"""``autoresearch finalize``: a tag's kept experiments as one commit, ready for a pull request.

The branch ``autoresearch/<tag>-final`` gets ONE commit whose parent is the starting point
and whose tree is the best commit's tree:

- the starting point is the baseline record's commit: ``setup`` measures the baseline at
  the commit the experiment branch starts from;
- the best commit is the last keep of the tag (the tip of ``autoresearch/<tag>`` after a
  loop).

The message has a title (``autoresearch <tag>: <metric> <baseline> → <best> (<pct>%)``)
and a body listing every kept improvement with its delta. Only ``commit-tree`` and
``branch --force`` run: the experiment branch, the index and the work tree stay as they
were. An existing ``-final`` branch is replaced only when finalize made it (its message
starts with ``autoresearch <tag>:``).
"""

from __future__ import annotations

import re
from pathlib import Path

from autoresearch.errors import ConfigError, EnvironmentProblem, UserError
from autoresearch.git import Repo, open_repo
from autoresearch.ledger import EVENTS_FILE, experiments
from autoresearch.results import Summary, format_delta, format_pct, format_value, summarize

SHA = re.compile(r"[0-9a-f]{4,40}")  # what the loop logs; never an option-like argument


def final_branch(tag: str) -> str:
    return f"autoresearch/{tag}-final"


def _title_prefix(tag: str) -> str:
    return f"autoresearch {tag}:"


def _kept(records: list[dict], tag: str) -> tuple[dict, list[dict]]:
    """The baseline's details and those of every keep after it; UserError if there are none."""
    keeps = [r["details"] for r in records if r["details"].get("status") == "keep"]
    starts = [i for i, details in enumerate(keeps) if details.get("prev") is None]
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


def _resolve(repo: Repo, details: dict, role: str) -> str:
    """The full sha of a logged experiment's commit; UserError naming it when it is gone."""
    commit = str(details.get("full_commit") or details.get("commit") or "")
    found = _verified(repo, commit) if SHA.fullmatch(commit) else None
    if found is None:
        raise UserError(f"the {role} commit {commit[:7] or '(none)'} "
                        f"({details.get('description')!r}) is not in this repository: "
                        "was the branch deleted or rewritten?")
    return found


def _check_replaceable(repo: Repo, branch: str, tag: str) -> bool:
    """True when ``branch`` exists and finalize made it; raise when it must not be replaced."""
    if not repo.branch_exists(branch):
        return False
    if not repo.commit_message(branch).startswith(_title_prefix(tag)):
        raise ConfigError(f"branch {branch} exists and was not made by 'autoresearch finalize':"
                          f" rename it (git branch -m {branch} NEW-NAME) or delete it")
    if repo.current_branch() == branch:
        raise EnvironmentProblem(f"branch {branch} is checked out: switch to another branch "
                                 "so finalize can replace it without touching the work tree")
    return True


def commit_message(tag: str, summary: Summary, improvements: list[dict], total: int) -> str:
    """The title, then one line per kept improvement: description, delta, reason if unusual."""
    title = (f"{_title_prefix(tag)} {summary.metric} {format_value(summary.baseline)} → "
             f"{format_value(summary.best)}")
    if summary.best_change_pct is not None:
        title += f" ({format_pct(summary.best_change_pct)})"
    lines = [title, "",
             f"Kept improvements on autoresearch/{tag} ({len(improvements)} of {total} "
             "experiments, the baseline included):", ""]
    for details in improvements:
        reason = details.get("reason")
        note = f", {reason}" if reason and reason != "improved" else ""
        description = " ".join(str(details.get("description") or "").split())
        lines.append(f"- {description} ({format_delta(details.get('delta'))}{note})")
    return "\n".join(lines) + "\n"


def _outcome(branch: str, sha: str, start: str, best: str, summary: Summary, kept: int,
             replaced: bool) -> str:
    """The one-paragraph report of what finalize did."""
    change = "" if summary.best_change_pct is None else f", {format_pct(summary.best_change_pct)}"
    plural = "" if kept == 1 else "s"
    return (f"{'replaced' if replaced else 'created'} branch {branch}: one commit {sha[:7]} on "
            f"the starting point {start[:7]} with the tree of the best experiment {best[:7]} "
            f"({summary.metric} {format_value(summary.baseline)} → "
            f"{format_value(summary.best)}{change}; {kept} kept improvement{plural} of "
            f"{summary.experiments} experiments); autoresearch/{summary.tag} and the work tree "
            f"are untouched. To open a pull request: git push -u origin {branch}")


def finalize(project_dir: Path, tag: str, records: list[dict]) -> str:
    """Make ``autoresearch/<tag>-final`` from the kept experiments of ``tag``; say what was done."""
    mine = experiments(records, tag)
    baseline, improvements = _kept(mine, tag)
    summary = summarize(mine)
    branch = final_branch(tag)
    message = commit_message(tag, summary, improvements, len(mine))
    with open_repo(project_dir) as repo:
        start = _resolve(repo, baseline, "baseline")
        best = _resolve(repo, improvements[-1], "best")
        replaced = _check_replaceable(repo, branch, tag)
        sha = repo.commit_tree(best, start, message)
        repo.set_branch(branch, sha)
    return _outcome(branch, sha, start, best, summary, len(improvements), replaced)
