"""Deletes the loop's lock file, then waits (the test starts a second loop meanwhile)."""
import _common as c

c.attempt("delete loop.lock", lambda: (c.state() / "loop.lock").unlink())
c.wait_for_release()
new = c.improve()
c.done(f"set VALUE to {new}")
