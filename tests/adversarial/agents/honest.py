"""Honest: lowers VALUE."""
import _common as c

new = c.improve()
c.done(f"set VALUE to {new}")
