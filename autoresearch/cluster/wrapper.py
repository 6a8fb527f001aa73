"""Runs on the cluster node around the experiment: python3 -c SOURCE ARGS (stdlib only).

Kept compatible with old Pythons (3.6), since a Slurm node's python3 may be the system's.
It prints a start line, runs the command with this process's stdout and stderr (so the
output streams as it is written), then a trailer the runner strips from the log: the
files to fetch as a base64 gzip tar, and the exit code and duration. ARGS is base64 JSON:
{"token", "command", "fetch": [globs], "fetch_max": bytes, "remove": [files the tool
added to the tree only to ship it, removed before the command runs]}.
"""

import base64
import glob
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time


def matches(pattern):
    try:
        return glob.glob(pattern, recursive=True, include_hidden=True)
    except TypeError:  # include_hidden is new in Python 3.11
        return glob.glob(pattern, recursive=True)


def pack(patterns, limit):
    """(base64 of a gzip tar of the matched files, or None; a note when over ``limit``)."""
    names = sorted({name for pattern in patterns for name in matches(pattern)
                    if not os.path.isabs(name) and ".." not in name.split(os.sep)})
    if not names:
        return None, None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            tar.add(name)
    data = buffer.getvalue()
    if len(data) > limit:
        return None, (f"autoresearch: the files to fetch ({', '.join(patterns)}) are "
                      f"{len(data)} bytes compressed, over the limit of {limit}; nothing was "
                      "fetched")
    return base64.b64encode(data).decode(), None


def main():
    args = json.loads(base64.b64decode(sys.argv[1]).decode())
    marker = "@@autoresearch-" + args["token"]
    out = sys.stdout
    for name in args.get("remove") or []:
        try:
            os.remove(name)
        except OSError:
            pass
    out.write(f"{marker} start {socket.gethostname()}\n")
    out.flush()
    start = time.monotonic()
    code = subprocess.call(["/bin/sh", "-c", args["command"]])
    duration = time.monotonic() - start
    payload, note = pack(args.get("fetch") or [], args.get("fetch_max", 0))
    # The trailer follows the output directly, no newline of ours: the runner cuts there.
    if note:
        out.write("\n" + note + "\n")
    if payload:
        out.write(f"{marker} fetch\n{payload}\n")
    out.write(f"{marker} end {code} {duration:.6f}\n")
    out.flush()
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
