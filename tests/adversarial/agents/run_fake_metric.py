"""A target that prints a better metric line than it computes (the limit no output parsing
can catch: the sealed holdout is the answer)."""
import _common as c

c.TARGET.write_text(c.TARGET.read_text() + "print('val_bpb: 0.000100')\n")
c.done("print a better number")
