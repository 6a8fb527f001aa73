"""Removing the pre-commit hook that earlier versions installed.

Earlier versions let the agent work in the user's repository and guarded it with a
pre-commit hook that refused commits of anything but the target on ``autoresearch/*``
branches; it also refused the user's own commits there. The agent now works in a copy and
the tool commits with plumbing, so the hook only gets in the way: setup and loop remove it
and put back the hook it had chained to.
"""

from __future__ import annotations

from autoresearch.git import Repo

MARKER = "# autoresearch pre-commit hook"
CHAINED = "pre-commit.autoresearch-chained"
TARGETS_FILE = "autoresearch-targets"


def remove_ours(repo: Repo, console) -> bool:
    """Remove the old hook if it is installed; True when something was removed."""
    hooks_dir = repo.hooks_dir()
    hook = hooks_dir / "pre-commit"
    try:
        ours = MARKER in hook.read_text(errors="replace")
    except OSError:
        ours = False
    (repo.common_dir() / TARGETS_FILE).unlink(missing_ok=True)
    if not ours:
        return False
    hook.unlink()
    chained = hooks_dir / CHAINED
    if chained.exists():
        chained.rename(hook)
    console.info("removed the pre-commit hook an earlier autoresearch installed (no longer "
                 "needed: the agent never works in your repository)")
    return True
