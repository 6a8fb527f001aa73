"""Resets the experiment branch to a commit of its own that does not contain the best (the
user's main tree, no parent), as ``git reset --hard`` or ``git branch -f`` would."""
import _common as c


def reset():
    c.git("update-ref", f"refs/heads/autoresearch/{c.tag()}",
          c.git("commit-tree", "main^{tree}", "-m", "reset"))


c.attempt("reset the branch", reset)
new = c.worsen()
c.done(f"set VALUE to {new}")
