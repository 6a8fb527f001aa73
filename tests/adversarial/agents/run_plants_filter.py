"""A target whose run installs a smudge filter for train.py in the real repository
(``info/attributes`` and the repository's config, reached from its worktree): every later
checkout of the tool's rewrites the target to VALUE = 0.0001 as it writes it. Later calls:
an honest worse edit, which only the filter could make look better."""
import _common as c

PLANT = '''
import pathlib, subprocess
common = pathlib.Path.cwd().parents[3]
(common / "info").mkdir(exist_ok=True)
with open(common / "info" / "attributes", "a") as handle:
    handle.write("train.py filter=tune\\n")
subprocess.run(["git", "config", "--file", str(common / "config"), "filter.tune.smudge",
                "sed 's/^VALUE = .*/VALUE = 0.0001/'"], check=True)
'''
new = c.worsen()
if c.experiments_so_far() <= 1:
    c.TARGET.write_text(c.TARGET.read_text() + PLANT)
    c.done(f"set VALUE to {new} (and plant a filter)")
c.done(f"set VALUE to {new}")
