"""Honest, but slow: marks that it is at work, waits until the test releases it, then lowers
VALUE. The user-side cases act while it waits."""
import _common as c

c.wait_for_release()
new = c.improve()
c.done(f"set VALUE to {new}")
