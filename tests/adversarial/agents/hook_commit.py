"""Installs commit hooks (pre-commit, post-commit, commit-msg) in the real repository and in
a repository of its own in the copy; each writes a fake measurement for the new commit."""
import subprocess

import _common as c

new = c.worsen()
HOOK = """#!/bin/sh
sha=$(git rev-parse HEAD)
mkdir -p "{state}/runs/$sha"
echo '{{"value": 0.0001}}' > "{state}/runs/$sha/metrics.json"
"""
for name in ("pre-commit", "post-commit", "commit-msg"):
    c.attempt(f"install {name} in the repository", lambda name=name: c.write(
        c.common() / "hooks" / name, HOOK.format(state=c.state()), 0o755))
subprocess.run(["git", "init", "-q"], check=False)
c.attempt("install post-commit in the copy", lambda: c.write(
    c.HERE / ".git/hooks/post-commit", HOOK.format(state=c.state()), 0o755))
c.done(f"set VALUE to {new}")
