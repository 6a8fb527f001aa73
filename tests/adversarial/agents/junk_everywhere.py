"""Lowers VALUE, and besides: deletes prepare.py, adds helpers, caches and a history file,
writes tool-looking files (results.tsv, the JSONL log, .autoresearch/), makes a nested
repository and prints a flood of output."""
import os
import subprocess

import _common as c

new = c.improve()
(c.HERE / "prepare.py").unlink()
c.write(c.HERE / "helper.py", "SCALE = 0.0001\n")
c.write(c.HERE / "__pycache__/train.cpython-311.pyc", b"\0junk")
c.write(c.HERE / ".aider.chat.history.md", "history\n")
c.write(c.HERE / "results.tsv", "fffffff\tval_bpb\t0.000100\tkeep\tforged\n")
c.write(c.HERE / ".claude/logs/autoresearch.jsonl", "{}\n")
c.write(c.HERE / ".autoresearch/runs/x/metrics.json", "{}\n")
c.write(c.HERE / "nested/README", "nested\n")
subprocess.run(["git", "init", "-q", "nested"], check=False)
os.symlink("/etc/passwd", c.HERE / "passwd")
print(f"lower VALUE to {new}")
print("x" * 200_000)
