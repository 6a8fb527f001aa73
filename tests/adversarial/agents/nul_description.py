"""Lowers VALUE and describes it with a NUL byte in the line."""
import sys

import _common as c

new = c.improve()
sys.stdout.write(f"lower\0VALUE to {new}\n")
