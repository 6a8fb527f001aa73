"""The branches finalize writes, and when it may replace one.

``autoresearch/<tag>-final`` holds the kept changes as one commit; ``finalize --split`` adds
``autoresearch/<tag>-final-<n>-<slug>`` per change (``n``: the experiment's number). Every
commit finalize makes has a title starting with ``autoresearch <tag>:``; a branch whose tip
does not is someone else's and is never replaced, nor is a checked-out one (that would need
the work tree).
"""

from __future__ import annotations

from autoresearch.errors import ConfigError, EnvironmentProblem
from autoresearch.git import Repo
from autoresearch.kept_change import KeptChange


def final_branch(tag: str) -> str:
    return f"autoresearch/{tag}-final"


def split_branch(tag: str, change: KeptChange) -> str:
    return f"{final_branch(tag)}-{change.number}-{change.slug}"


def title_prefix(tag: str) -> str:
    return f"autoresearch {tag}:"


def check_replaceable(repo: Repo, branch: str, tag: str) -> bool:
    """True when ``branch`` exists and finalize made it; raise when it must not be replaced."""
    if not repo.branch_exists(branch):
        return False
    if not repo.commit_message(branch).startswith(title_prefix(tag)):
        raise ConfigError(f"branch {branch} exists and was not made by 'autoresearch finalize':"
                          f" rename it (git branch -m {branch} NEW-NAME) or delete it")
    if repo.current_branch() == branch:
        raise EnvironmentProblem(f"branch {branch} is checked out: switch to another branch "
                                 "so finalize can replace it without touching the work tree")
    return True
