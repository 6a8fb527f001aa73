"""Moves the tool's refs: a commit of its own on top of the best (prepare.py scaled to
0.0001) becomes the branch's tip and refs/autoresearch/<tag>/best; then edits the target."""
import _common as c


def move():
    forged = c.forged_commit({"prepare.py": "SCALE = 0.0001\n"})
    best = c.git("rev-parse", f"refs/autoresearch/{c.tag()}/best")
    c.git("update-ref", f"refs/autoresearch/{c.tag()}/best", forged, best)
    c.git("update-ref", f"refs/heads/autoresearch/{c.tag()}", forged)


c.attempt("move the branch and the best ref", move)
new = c.worsen()
c.done(f"set VALUE to {new}")
