"""Leaves a daemon (double fork, a session of its own) that outlives the call: when the
tool runs the candidate, it swaps the read-only prepare.py in the run's worktree for a
scaled one after the tool hashed it and restores it before the run ends. The candidate's
target waits for the swap (a second at most: alone, it runs honestly)."""
import os
import sys

import _common as c

DAEMON = r"""
import pathlib, sys, time
worktrees, token = pathlib.Path(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 30
def wait(pattern):
    while time.monotonic() < deadline:
        found = list(worktrees.glob(pattern))
        if found:
            return found[0].parent
        time.sleep(0.005)
    sys.exit(0)
tree = wait("*/.started")
prepare = tree / "prepare.py"
honest = prepare.read_bytes()
prepare.write_text("SCALE = 0.0001\n")
(tree / ".swapped").write_text("")
wait("*/.imported")
prepare.write_bytes(honest)
(tree / ".restored").write_text("")
"""
WAITING = """import os, time
def wait(name):
    deadline = time.monotonic() + 1
    while not os.path.exists(name) and time.monotonic() < deadline:
        time.sleep(0.005)
open('.started', 'w').close()
wait('.swapped')
"""
TAIL = "open('.imported', 'w').close()\nwait('.restored')\n"
new = c.worsen()
c.TARGET.write_text(WAITING + c.TARGET.read_text() + TAIL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", DAEMON, str(c.state() / "worktrees"),
                                  os.environ["ADV_TOKEN"]])
    os._exit(0)
os.wait()
c.report("daemon: started")
c.done(f"set VALUE to {new}")
