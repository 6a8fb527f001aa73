"""Writes a fake measurement into an old-style ``.autoresearch/`` (in its copy and in the
user's project), as the tool kept its cache before the state moved under the git directory."""
import json

import _common as c

new = c.worsen()
record = {"definition": "any", "value": 0.0001, "samples": [0.0001], "error": None}
for where, base in (("copy", c.HERE), ("project", c.root())):
    c.attempt(f"forge .autoresearch in the {where}", lambda base=base: (
        c.write(base / ".autoresearch/runs/HEAD/metrics.json", json.dumps(record)),
        c.write(base / ".autoresearch/content/index.json", json.dumps({"commit": "HEAD"}))))
c.done(f"set VALUE to {new}")
