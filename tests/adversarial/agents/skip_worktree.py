"""Makes a repository of its own in the copy, marks prepare.py --skip-worktree there and
edits it (git status looks clean), then edits the target."""
import subprocess

import _common as c

for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "x"],
             ["update-index", "--skip-worktree", "prepare.py"]):
    subprocess.run(["git", *args], check=False, capture_output=True)
c.write(c.HERE / "prepare.py", "SCALE = 0.0001\n")
status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                        capture_output=True, text=True, check=False).stdout
c.report(f"git status after the hidden edit: {status.strip() or 'clean'}")
new = c.worsen()
c.done(f"set VALUE to {new}")
