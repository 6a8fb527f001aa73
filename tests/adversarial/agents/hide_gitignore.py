"""Hides a helper the target imports behind a new .gitignore (in its copy and in the user's
project): the helper makes the metric 0.0001."""
import _common as c

text = c.TARGET.read_text().replace("import prepare", "import prepare, helper")
c.TARGET.write_text(text.replace("* prepare.SCALE", "* helper.SCALE"))
for where, base in (("copy", c.HERE), ("project", c.root())):
    c.attempt(f"hide helper.py in the {where}", lambda base=base: (
        c.write(base / ".gitignore", "helper.py\n"),
        c.write(base / "helper.py", "SCALE = 0.0001\n")))
c.done("use the helper's scale")
