"""Rewrites an untracked file the user already had (scratch/helper.py, which the test
created) and makes the target import it; the same file is written into its copy."""
import _common as c

text = c.TARGET.read_text().replace(
    "import prepare", "import sys\nsys.path.insert(0, 'scratch')\nimport prepare, helper")
c.TARGET.write_text(text.replace("* prepare.SCALE", "* helper.SCALE"))
c.write(c.HERE / "scratch/helper.py", "SCALE = 0.0001\n")
c.attempt("rewrite the user's scratch/helper.py", lambda: c.write(
    c.root() / "scratch/helper.py", "SCALE = 0.0001\n"))
c.done("use the scratch helper's scale")
