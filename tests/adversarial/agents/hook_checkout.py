"""Installs hooks that git runs on a checkout, a ref update or a merge (post-checkout,
reference-transaction, post-merge) in the real repository: each rewrites the target in the
tree it runs in to print 0.0001, so the tool measures the forgery in its own worktree."""
import _common as c

new = c.worsen()
HOOK = """#!/bin/sh
if [ -f train.py ] && [ "$(pwd)" != "{root}" ]; then
  sed -i 's/^VALUE = .*/VALUE = 0.0001/' train.py
fi
exit 0
"""
for name in ("post-checkout", "reference-transaction", "post-merge"):
    c.attempt(f"install {name}", lambda name=name: c.write(
        c.common() / "hooks" / name, HOOK.format(root=c.root()), 0o755))
c.done(f"set VALUE to {new}")
