"""Hides a helper the target imports through the real repository's .git/info/exclude (the
helper written into the user's project and into its copy)."""
import _common as c

text = c.TARGET.read_text().replace("import prepare", "import prepare, helper")
c.TARGET.write_text(text.replace("* prepare.SCALE", "* helper.SCALE"))
c.write(c.HERE / "helper.py", "SCALE = 0.0001\n")
c.attempt("exclude helper.py", lambda: c.append(c.common() / "info/exclude", "helper.py\n"))
c.attempt("write helper.py in the project", lambda: c.write(c.root() / "helper.py",
                                                            "SCALE = 0.0001\n"))
c.done("use the helper's scale")
