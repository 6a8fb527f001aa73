"""Lowers VALUE and pads the target beyond 64 MiB with a comment."""
import _common as c

new = c.improve()
with open(c.TARGET, "a") as handle:
    handle.write("#" + "x" * (65 * 1024 * 1024) + "\n")
c.done(f"set VALUE to {new}")
