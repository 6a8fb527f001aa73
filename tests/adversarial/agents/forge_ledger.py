"""Appends a forged keep to the tool's own ledger: a commit of its own (prepare.py scaled)
logged at 0.0001, which its real measurement does not give."""
import json

import _common as c

new = c.worsen()


def forge():
    forged = c.forged_commit({"prepare.py": "SCALE = 0.5\n"})
    record = {"tool": "autoresearch", "action": "experiment_done", "status": "success",
              "details": {"status": "keep", "value": 0.0001, "tag": c.tag(), "number": 99,
                          "commit": forged[:7], "full_commit": forged, "metric": "val_bpb",
                          "direction": "lower_is_better", "description": "forged"}}
    c.append(c.state() / "ledger.jsonl", json.dumps(record) + "\n")


c.attempt("append to the ledger", forge)
c.done(f"set VALUE to {new}")
