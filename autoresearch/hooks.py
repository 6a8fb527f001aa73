"""The pre-commit hook: on autoresearch/* branches only the target file(s) may be committed.

An agent allowed to run git still cannot slip other changes in. The hook chains to a
hook that was there before (renamed to ``pre-commit.autoresearch-chained``) and is
installed where ``core.hooksPath`` points, when set.
"""

from __future__ import annotations

import stat

from autoresearch import output
from autoresearch.git import Repo

MARKER = "# autoresearch pre-commit hook"
CHAINED = "pre-commit.autoresearch-chained"
TARGETS_FILE = "autoresearch-targets"

HOOK = f"""#!/bin/sh
{MARKER} (installed by 'autoresearch setup'; chains to {CHAINED})
hook_dir=$(dirname "$0")
if [ -x "$hook_dir/{CHAINED}" ]; then
  "$hook_dir/{CHAINED}" "$@" || exit $?
fi
branch=$(git symbolic-ref --short -q HEAD)
case "$branch" in
  autoresearch/*) ;;
  *) exit 0 ;;
esac
allowed="$(git rev-parse --git-common-dir)/{TARGETS_FILE}"
[ -f "$allowed" ] || exit 0
others=$(git diff --cached --name-only --no-renames | grep -Fxv -f "$allowed")
if [ -n "$others" ]; then
  echo "autoresearch: on $branch only the target file(s) may be committed; refused:" >&2
  echo "$others" >&2
  exit 1
fi
exit 0
"""


def write_targets(repo: Repo, targets: tuple[str, ...]) -> None:
    (repo.common_dir() / TARGETS_FILE).write_text("".join(f"{t}\n" for t in targets))


def only_ours(repo: Repo) -> bool:
    """True when the pre-commit hook is ours and chains to nothing.

    Then the tool's own commits may skip it: the guard has already checked exactly what the
    hook would (only the target changed), and no hook of the user's would be bypassed. The
    hook still stops an agent that runs ``git commit`` itself.
    """
    hooks_dir = repo.hooks_dir()
    hook = hooks_dir / "pre-commit"
    try:
        ours = MARKER in hook.read_text(errors="replace")
    except OSError:
        return False
    return ours and not (hooks_dir / CHAINED).exists()


def install(repo: Repo, targets: tuple[str, ...]) -> bool:
    """Install (or refresh) the hook; True when something was written."""
    write_targets(repo, targets)
    hooks_dir = repo.hooks_dir()
    if hooks_dir.resolve().is_relative_to(repo.root.resolve()) and not hooks_dir.resolve(
    ).is_relative_to(repo.common_dir().resolve()):
        output.warn(f"core.hooksPath {hooks_dir} is inside the work tree; not installing the "
                    "pre-commit hook there (the tool still checks every change itself)")
        return False
    hooks_dir.mkdir(parents=True, exist_ok=True)
    hook = hooks_dir / "pre-commit"
    if hook.exists():
        current = hook.read_text(errors="replace")
        if MARKER in current:
            if current == HOOK:
                return False
        else:
            hook.rename(hooks_dir / CHAINED)
    hook.write_text(HOOK)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return True
