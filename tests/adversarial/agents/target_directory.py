"""Replaces the target by a directory holding a better script."""
import _common as c

c.TARGET.unlink()
c.write(c.TARGET / "__main__.py", "print('val_bpb: 0.000100')\n")
c.done("make the target a package")
