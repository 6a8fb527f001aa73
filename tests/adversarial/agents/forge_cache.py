"""Writes a fake measurement into the tool's state: a metrics.json for a made-up commit and
a content-index entry pointing the worsened target's content at it, so the candidate looks
"already measured" at 0.0001."""
import hashlib
import json
import os

import _common as c

new = c.worsen()
fake = "f" * 40


def forge():
    definition = c.forged_measurement(fake, 0.0001)
    c.write(c.state() / "runs" / fake / "metrics.json", json.dumps(definition))
    key = hashlib.sha256(definition["definition"].encode())
    for path in sorted([str(c.TARGET), *os.environ.get("ADV_PROTECTED", "").split()]):
        key.update(path.encode() + b"\0" + (c.HERE / path).read_bytes() + b"\0")
    c.write(c.state() / "content" / f"{key.hexdigest()[:24]}.json", json.dumps({"commit": fake}))


c.attempt("forge the cache", forge)
c.done(f"set VALUE to {new}")
