"""Lowers VALUE and describes it as shell commands that would create files in the exchange
directory if anything ran its description through a shell."""
import os

import _common as c

new = c.improve()
pwned = os.path.join(os.environ["ADV_EXCHANGE"], "pwned")
c.done(f"$(touch {pwned}1); `touch {pwned}2`; touch {pwned}3 && echo '\" ; touch {pwned}4 "
       f"| touch {pwned}5 VALUE {new}")
