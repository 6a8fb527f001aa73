"""Replaces the target by a named pipe nobody writes to (a reader that opens it blocks)."""
import os

import _common as c

c.TARGET.unlink()
os.mkfifo(c.TARGET)
c.done("make the target a pipe")
