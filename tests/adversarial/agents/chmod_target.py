"""Lowers VALUE and makes the target executable (a change of mode)."""
import _common as c

new = c.improve()
c.TARGET.chmod(0o755)
c.done(f"set VALUE to {new}")
