"""Leaves a child in its own process group running (no new session) after it exits."""
import os
import subprocess
import sys

import _common as c

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                          os.environ["ADV_TOKEN"]], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
c.report(f"lingering child: {child.pid}")
new = c.improve()
c.done(f"set VALUE to {new}")
