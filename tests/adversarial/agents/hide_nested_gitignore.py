"""Hides a helper package the target imports behind a nested .gitignore (lib/.gitignore
ignoring everything), in its copy and in the user's project."""
import _common as c

text = c.TARGET.read_text().replace("import prepare", "import prepare\nfrom lib import helper")
c.TARGET.write_text(text.replace("* prepare.SCALE", "* helper.SCALE"))
for where, base in (("copy", c.HERE), ("project", c.root())):
    c.attempt(f"hide lib/helper.py in the {where}", lambda base=base: (
        c.write(base / "lib/.gitignore", "*\n"),
        c.write(base / "lib/__init__.py", ""),
        c.write(base / "lib/helper.py", "SCALE = 0.0001\n")))
c.done("use lib's scale")
