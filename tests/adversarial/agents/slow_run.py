"""A worse target whose run marks that it runs (``run-at-work`` in the exchange directory)
and waits until the test releases it (the user works meanwhile)."""
import os

import _common as c

WAIT = f'''
import os, pathlib, time
exchange = pathlib.Path({os.environ["ADV_EXCHANGE"]!r})
(exchange / "run-at-work").write_text(str(os.getpid()))
deadline = time.monotonic() + 60
while not (exchange / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
'''
new = c.worsen()
c.TARGET.write_text(WAIT + c.TARGET.read_text())
c.done(f"set VALUE to {new}")
