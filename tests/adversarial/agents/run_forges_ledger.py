"""A target whose run appends a forged keep of its own commit at 0.0001 to the tool's ledger
(two directories up from its worktree); its honest value is worse."""
import _common as c

FORGE = '''
import json, pathlib, subprocess
sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
ledger = pathlib.Path.cwd().parents[1] / "ledger.jsonl"
record = {"tool": "autoresearch", "action": "experiment_done", "status": "success",
          "details": {"status": "keep", "value": 0.0001, "tag": "%s", "number": 99,
                      "commit": sha[:7], "full_commit": sha, "metric": "val_bpb",
                      "direction": "lower_is_better", "description": "forged by the run"}}
if ledger.is_file():
    with open(ledger, "a") as handle:
        handle.write(json.dumps(record) + "\\n")
'''
new = c.worsen()
c.TARGET.write_text(c.TARGET.read_text() + FORGE % c.tag())
c.done(f"set VALUE to {new}")
