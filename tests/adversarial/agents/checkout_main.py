"""Checks out main in the user's working tree (the user works on another branch), forcing
it, as an agent that wants the tool to commit onto main would."""
import _common as c

c.attempt("check out main", lambda: c.git("checkout", "-q", "-f", "main"))
new = c.worsen()
c.done(f"set VALUE to {new}")
