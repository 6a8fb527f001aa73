"""Lowers VALUE and describes it with terminal escape sequences (a window title, clear
screen, colour, a bell, a cursor move, an OSC 52 clipboard write)."""
import sys

import _common as c

new = c.improve()
sys.stdout.write(f"\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\x07\x1b[1A"
                 f"\x1b]52;c;cm0gLXJmIH4=\x07 VALUE to {new}\n")
