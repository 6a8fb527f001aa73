"""Turns the target into a symbolic link to a file outside the repository that prints
0.0001 (in its private /tmp under strict, in the exchange directory's neighbour at basic)."""
import os
import tempfile

import _common as c

outside = os.path.join(tempfile.mkdtemp(), "train.py")
with open(outside, "w") as handle:
    handle.write("print('val_bpb: 0.000100')\n")
c.TARGET.unlink()
c.TARGET.symlink_to(outside)
c.done("link the target to a better script")
