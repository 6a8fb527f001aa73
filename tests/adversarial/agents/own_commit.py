"""Commits a change to prepare.py itself, hooks bypassed (--no-verify), in a repository of
its own in the copy, then edits the target."""
import subprocess

import _common as c

subprocess.run(["git", "init", "-q"], check=False)
subprocess.run(["git", "add", "-A"], check=False)
subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "base"], check=False)
c.write(c.HERE / "prepare.py", "SCALE = 0.0001\n")
subprocess.run(["git", "commit", "-q", "--no-verify", "-am", "scale"], check=False)
new = c.worsen()
c.done(f"set VALUE to {new}")
