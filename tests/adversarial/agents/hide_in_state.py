"""Hides a helper inside the tool's state, beside the worktrees the runs use, and makes the
target import it from there (``..`` of the run's working directory)."""
import _common as c

text = c.TARGET.read_text().replace(
    "import prepare", "import sys\nsys.path.insert(0, '..')\nimport prepare, helper")
c.TARGET.write_text(text.replace("* prepare.SCALE", "* helper.SCALE"))
c.attempt("hide helper.py in the state", lambda: c.write(
    c.state() / "worktrees/helper.py", "SCALE = 0.0001\n"))
c.done("use the scale from the parent directory")
