"""Issue 14's shapes of real projects, end to end: ``config``, ``setup``, ``measure`` and a
short ``loop`` through the real CLI (``python -m autoresearch`` in a subprocess) on a real
temporary git repository of each shape that tests/real_projects.py builds.

The agent is the stand-in ``claude`` (tests/standins) first on PATH, called with the real
command line; each call applies one scripted edit (``{"edits": [[path, OLD, NEW]], "say":
...}``). The builds are real: the web projects are bundled by Vite and esbuild from the npm
registry (one install per session, :func:`real_projects.npm_modules`), the ML projects run
the built-in demo's training script, the Java project compiles with javac behind a ``./mvnw``
stand-in. Each test checks what the loop decided and why, what it logged and where, and that
the user's working tree was never touched.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import real_projects
from helpers import state_dir
from real_projects import commit, link_bundlers, npm_build, npm_modules  # noqa: F401

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parent
STANDINS = TESTS / "standins"
ML_DEMO = TESTS.parent / "examples" / "ml-demo"
TAG = "real"
BRANCH = f"autoresearch/{TAG}"
EVENTS = Path(".claude") / "logs" / "autoresearch.jsonl"
REWRITE_WARNING = "the run rewrites tracked files (README.md)"


@pytest.fixture(autouse=True)
def only_shipped_recipes(monkeypatch, tmp_path):
    """No user recipes or stand-in steering leak in from the environment; HOME is the test's."""
    for name in list(os.environ):
        if name.startswith("STANDIN_") or name == "AUTORESEARCH_RECIPES":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# -- helpers ---------------------------------------------------------------------------------

def agent_env(tmp_path: Path, steps: list[dict], name: str = "agent") -> dict[str, str]:
    """The environment of a CLI call whose claude is the stand-in following ``steps``; its
    calls are counted in ``tmp_path/<name>.json.calls``, its last argv in ``<name>-argv.json``."""
    script = tmp_path / f"{name}.json"
    script.write_text(json.dumps(steps))
    return {"PATH": os.pathsep.join([str(STANDINS), str(Path(sys.executable).parent),
                                     os.environ["PATH"]]),
            "STANDIN_SCRIPT": str(script),
            "STANDIN_ARGV_LOG": str(tmp_path / f"{name}-argv.json"),
            "AUTORESEARCH_BACKOFF_S": "0"}


def agent_calls(tmp_path: Path, name: str = "agent") -> int:
    calls = tmp_path / f"{name}.json.calls"
    return int(calls.read_text()) if calls.exists() else 0


def last_prompt(tmp_path: Path, name: str = "agent") -> str:
    argv = json.loads((tmp_path / f"{name}-argv.json").read_text())
    assert argv[0] == "-p"
    return argv[1]


def cli(run_cli, project: Path, *args: str, env: dict | None = None,
        code: int = 0) -> tuple[str, str]:
    """``autoresearch ARGS`` in ``project``; expects exit ``code``; (stdout, stderr)."""
    got, out, err = run_cli(list(args), project, env, timeout=300)
    assert got == code, f"exit {got}, not {code}\nstdout:\n{out}\nstderr:\n{err}"
    return out, err


def loop(run_cli, project: Path, env: dict, iterations: int, *flags: str,
         code: int = 0) -> tuple[str, str]:
    return cli(run_cli, project, "loop", "-n", str(iterations), "--tag", TAG, *flags,
               env=env, code=code)


def set_up(run_cli, git, builder, where: Path, npm_modules: Path) -> tuple[Path, str]:
    """A committed web project from ``builder`` with the bundlers linked, set up under TAG;
    (the project, main's commit)."""
    project = link_bundlers(commit(builder(where)), npm_modules)
    main = git(project, "rev-parse", "main")
    cli(run_cli, project, "setup", "--tag", TAG)
    return project, main


def experiments(project: Path) -> list[dict]:
    """The details of every experiment_done record in the project's JSONL log."""
    lines = (project / EVENTS).read_text().splitlines()
    return [r["details"] for r in map(json.loads, lines) if r["action"] == "experiment_done"]


def results_tsv(project: Path) -> tuple[list[str], list[list[str]]]:
    header, *rows = (project / "results.tsv").read_text().splitlines()
    return header.split("\t"), [row.split("\t") for row in rows]


def statuses(project: Path) -> list[str]:
    return [e["status"] for e in experiments(project)]


def untouched(repo: Path, git, main: str) -> None:
    """The user's tree: still on main at the same commit, nothing changed or left behind."""
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "branch", "--show-current") == "main"
    assert git(repo, "rev-parse", "HEAD") == main


def gzipped_kb(paths: list[Path]) -> float:
    return sum(len(gzip.compress(p.read_bytes(), 9, mtime=0)) for p in paths) / 1024


def built_checkout(project: Path, rev: str, where: Path, modules: Path, git) -> Path:
    """``rev`` checked out at ``where`` and built by ``npm run build``."""
    git(project, "worktree", "add", "--quiet", "--detach", str(where), rev)
    link_bundlers(where, modules)
    done = npm_build(where)
    assert done.returncode == 0, done.stdout + done.stderr
    return where


def ml_demo(root: Path, git, files: dict[str, str] | None = None) -> Path:
    """The built-in demo (karpathy's layout, about a second per run) with ``files`` (path ->
    text) replaced or added, committed on main."""
    shutil.copytree(ML_DEMO, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "the project")
    return root


def train_edit(old: str, new: str, say: str) -> dict:
    """A step of the stand-in agent: replace ``old`` with ``new`` in train.py."""
    return {"edits": [["train.py", old, new]], "say": say}


# -- item 1: a library whose package.json names only dist/ files -----------------------------

DESCRIBE = ("export function describe(values: number[]): string {\n"
            "  const total = values.reduce((sum, v) => sum + v, 0)\n"
            "  return `${values.length} values, mean ${(total / values.length).toFixed(2)}`\n"
            "}\n")
SPREAD = ("export function spread(values: number[]): number {\n"
          "  return Math.max(...values) - Math.min(...values)\n"
          "}\n")


def test_esm_library_keeps_a_smaller_bundle_and_its_target_survives_builds(
        tmp_path, git_identity, git, run_cli, show_config, npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.esm_library(tmp_path / "lib")), npm_modules)
    main = git(project, "rev-parse", "main")
    source = (project / "src" / "lib.ts").read_text()

    out, _ = cli(run_cli, project, "setup", "--tag", TAG)
    assert "baseline bundle_size_kb: " in out
    assert not (project / "dist").exists()  # the baseline was built in the tool's worktree
    npm_build(project)  # the user builds too: dist/ appears, the target does not move to it
    assert (project / "dist" / "tiny-lib.js").is_file()
    assert show_config(project)["target_file"] == (
        "src/lib.ts", "recipe web (web.yaml): the build's entry (vite.config.js entry)")

    steps = [{"edits": [["src/lib.ts", DESCRIBE, ""]], "say": "Drop describe"},
             {"edits": [["src/lib.ts", "/** Scale", SPREAD + "\n/** Scale"]],
              "say": "Add spread"}]
    loop(run_cli, project, agent_env(tmp_path, steps), 2)

    done = experiments(project)
    assert [(e["status"], e["reason"]) for e in done] == [
        ("keep", "baseline"), ("keep", "improved"), ("discard", "not improved")]
    values = [e["value"] for e in done]
    assert values[1] < values[0] and values[2] > values[1]
    # The branch advanced to the kept candidate, whose bundle really is what was measured.
    assert git(project, "rev-parse", BRANCH) == done[1]["full_commit"] != main
    assert "describe" not in git(project, "show", f"{BRANCH}:src/lib.ts")
    assert done[2]["full_commit"] not in git(project, "rev-list", BRANCH).split()
    best = built_checkout(project, BRANCH, tmp_path / "best", npm_modules, git)
    assert gzipped_kb(sorted((best / "dist").iterdir())) == pytest.approx(values[1], abs=1e-9)
    # The user's tree: untouched (dist/ is the user's own build, ignored).
    git(project, "worktree", "remove", "--force", str(best))
    untouched(project, git, main)
    assert (project / "src" / "lib.ts").read_text() == source


# -- item 2: the default Vite React TypeScript app ---------------------------------------------

FOOTER = ("root.innerHTML = App() + '<footer>Made with Vite, React and a long footer that "
          "nobody reads</footer>'\n")


def test_vite_react_app_needs_no_configuration(tmp_path, git_identity, git, run_cli,
                                               show_config, npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.vite_react_app(tmp_path / "app")),
                            npm_modules)
    main = git(project, "rev-parse", "main")
    shown = show_config(project)
    assert shown["#type"][0].startswith("web ")
    assert shown["target_file"][0] == "src/main.tsx"
    assert not (project / "autoresearch.yaml").exists() and not (project / "CLAUDE.md").exists()

    out, _ = cli(run_cli, project, "setup", "--tag", TAG)
    baseline = float(out.split("baseline bundle_size_kb: ")[1].split()[0])
    steps = [{"edits": [["src/main.tsx", "document.getElementById('root') as HTMLElement",
                         "document.body"]], "say": "Render into the body"},
             {"edits": [["src/main.tsx", "root.innerHTML = App()\n", FOOTER]],
              "say": "Add a footer"}]
    loop(run_cli, project, agent_env(tmp_path, steps), 2)

    done = experiments(project)
    assert [e["status"] for e in done] == ["keep", "keep", "discard"]
    assert [e["description"] for e in done] == ["baseline", "Render into the body",
                                                "Add a footer"]
    assert done[0]["value"] == pytest.approx(baseline, abs=1e-6)
    assert done[1]["value"] < done[0]["value"] < done[2]["value"]
    # The metric is the app as Vite builds it: every file of dist/ (the page, the hashed
    # entry chunk, the lazily loaded page's chunk, the CSS), gzipped.
    assert npm_build(project).returncode == 0
    emitted = sorted(p for p in (project / "dist").rglob("*") if p.is_file())
    assert len(emitted) == 4
    assert gzipped_kb(emitted) == pytest.approx(done[0]["value"], abs=1e-9)
    assert git(project, "rev-parse", BRANCH) == done[1]["full_commit"]
    untouched(project, git, main)


# -- item 3: a tracked build/ directory, outputs written at the root -----------------------------

SHORTCUTS = ("module.exports = { paint, red: (t) => paint('red', t), "
             "green: (t) => paint('green', t), blue: (t) => paint('blue', t) }")
CHECK = ("  const code = colors[name]\n"
         "  if (code === undefined) throw new Error('unknown color ' + name)\n"
         "  return '\\u001b[' + code + 'm' + text + '\\u001b[39m'\n")
ONE_LINE_CHECK = ("  if (!(name in colors)) throw new Error('unknown color ' + name + '; the "
                  "known colors are red, green, yellow and blue, as colors.js lists them')\n"
                  "  return '\\u001b[' + colors[name] + 'm' + text + '\\u001b[39m'\n")


def test_build_directory_package_is_judged_on_what_the_build_emitted(
        tmp_path, git_identity, git, run_cli, npm_modules):  # noqa: F811
    project, main = set_up(run_cli, git, real_projects.build_dir_package, tmp_path / "colors",
                           npm_modules)
    steps = [  # public API deleted: less code and a smaller bundle, a real improvement
        {"edits": [["source/index.js", SHORTCUTS, "module.exports = { paint }"]],
         "say": "Export only paint"},
        # one line less, but a longer message: simpler code, a bigger bundle
        {"edits": [["source/index.js", CHECK, ONE_LINE_CHECK]], "say": "Check in one line"}]
    loop(run_cli, project, agent_env(tmp_path, steps), 2)

    done = experiments(project)
    assert [(e["status"], e["reason"]) for e in done] == [
        ("keep", "baseline"), ("keep", "improved"), ("discard", "not improved")]
    values = [e["value"] for e in done]
    assert values[1] < values[0] and values[2] > values[1]
    assert done[2]["lines"] < done[1]["lines"]  # "simpler" had the metric not moved
    # What was counted: the index.js and colors.js the build wrote, never build/build.js.
    best = built_checkout(project, BRANCH, tmp_path / "best", npm_modules, git)
    assert gzipped_kb([best / "colors.js", best / "index.js"]) == pytest.approx(values[1],
                                                                                abs=1e-9)
    assert git(project, "show", f"{BRANCH}:build/build.js") == git(project, "show",
                                                                   "main:build/build.js")
    git(project, "worktree", "remove", "--force", str(best))
    untouched(project, git, main)


# -- item 4: source maps and type declarations ----------------------------------------------------

DOC_COMMENT = ("/**\n * Greet someone by name.\n *\n * @param {string} name who to greet\n"
               " * @returns {string} the greeting\n */\n")


def test_a_comment_only_change_is_not_an_improvement_though_the_map_shrinks(
        tmp_path, git_identity, git, run_cli, npm_modules):  # noqa: F811
    project, main = set_up(run_cli, git, real_projects.maps_library, tmp_path / "mapped",
                           npm_modules)
    steps = [{"edits": [["src/index.js", DOC_COMMENT, ""]], "say": "Drop the doc comment"},
             {"edits": [["src/index.js", "'Hello, '", "'Hi, '"]], "say": "Greet shorter"}]
    loop(run_cli, project, agent_env(tmp_path, steps), 1)

    done = experiments(project)
    assert [(e["status"], e["reason"]) for e in done] == [
        ("keep", "baseline"), ("keep", "improved")]
    assert done[1]["value"] < done[0]["value"]
    assert DOC_COMMENT in git(project, "show", f"{BRANCH}:src/index.js")
    # The comment deletion is no change to the code: not even run (issue 16's novelty).
    records = [json.loads(line) for line in (project / EVENTS).read_text().splitlines()]
    [duplicate] = [r["details"] for r in records if r["action"] == "duplicate"]
    assert duplicate["reason"] == "no change (whitespace and comments aside)"

    # Measured anyway, the same deletion: the same value with the maps and declarations
    # excluded (byte-identical JavaScript), smaller with them counted, as it used to be.
    side = tmp_path / "side"
    git(project, "worktree", "add", "--quiet", "--detach", str(side), main)
    source = side / "src" / "index.js"
    source.write_text(source.read_text().replace(DOC_COMMENT, ""))
    git(side, "commit", "--quiet", "--all", "--message", "drop the doc comment")
    deleted = git(side, "rev-parse", "HEAD")
    default, _ = cli(run_cli, project, "measure", deleted)
    counted, _ = cli(run_cli, project, "measure", deleted, "--metric-exclude", "none")
    baseline_counted, _ = cli(run_cli, project, "measure", main, "--metric-exclude", "none")

    def value(line: str) -> float:
        return float(line.split()[2])

    assert value(default) == pytest.approx(done[0]["value"], abs=1e-6)
    assert value(counted) < value(baseline_counted)
    assert value(baseline_counted) > done[0]["value"]  # the map and index.d.ts were counted
    git(project, "worktree", "remove", "--force", str(side))
    untouched(project, git, main)


# -- item 5: an expected output that goes missing ---------------------------------------------------

def test_a_candidate_whose_build_drops_an_output_is_a_crash(tmp_path, git_identity, git,
                                                            run_cli, npm_modules):  # noqa: F811
    project, main = set_up(run_cli, git, real_projects.dropping_library, tmp_path / "x",
                           npm_modules)
    steps = [  # modern syntax: the ES5 minifier fails, `npm run build` still exits 0
        {"edits": [["src/x.js", "var GREETING", "const GREETING"]], "say": "Use const"},
        {"edits": [["src/x.js", "'hello'", "'hi'"]], "say": "Greet shorter"}]
    out, _ = loop(run_cli, project, agent_env(tmp_path, steps), 2)

    done = experiments(project)
    assert [e["status"] for e in done] == ["keep", "crash", "keep"]
    crash = done[1]
    assert crash["error"] == "output missing: dist/x.min.js"
    assert crash["reason"] == "output missing: dist/x.min.js"
    assert "crash (output missing: dist/x.min.js)" in out
    assert crash["full_commit"] not in git(project, "rev-list", BRANCH).split()
    assert git(project, "rev-parse", BRANCH) == done[2]["full_commit"]
    assert "var GREETING" in git(project, "show", f"{BRANCH}:src/x.js")
    _, rows = results_tsv(project)
    assert [row[3] for row in rows] == ["keep", "crash", "keep"] and rows[1][2] == "0.000000"
    shown, _ = cli(run_cli, project, "results")
    assert "crash (output missing: dist/x.min.js)" in shown
    untouched(project, git, main)


# -- item 6: a build that rewrites a tracked file ---------------------------------------------------

def test_a_docs_step_rewriting_readme_leaves_the_tree_clean_and_blames_no_candidate(
        tmp_path, git_identity, git, run_cli, npm_modules):  # noqa: F811
    project = link_bundlers(commit(real_projects.docs_step_library(tmp_path / "doc")),
                            npm_modules)
    main = git(project, "rev-parse", "main")
    readme = (project / "README.md").read_text()

    _, err = cli(run_cli, project, "setup", "--tag", TAG)
    assert err.count(REWRITE_WARNING) == 1
    untouched(project, git, main)
    steps = [{"edits": [["src/index.js", "return [x, x]", "return [x]"]], "say": "Once"},
             {"edits": [["src/index.js", "return [x]", "return x"]], "say": "Bare"}]
    _, err = loop(run_cli, project, agent_env(tmp_path, steps), 2)

    assert err.count(REWRITE_WARNING) == 1  # two runs rewrote it, one warning
    done = experiments(project)
    assert [(e["status"], e["reason"]) for e in done] == [
        ("keep", "baseline"), ("keep", "improved"), ("keep", "improved")]
    assert not any("README.md" in json.dumps(e) for e in done)
    # Only the candidates' change is on the branch; README.md is as committed everywhere.
    assert git(project, "diff", "--name-only", main, BRANCH) == "src/index.js"
    assert git(project, "show", f"{BRANCH}:src/index.js").count("return x\n") == 1
    assert (project / "README.md").read_text() == readme
    untouched(project, git, main)


# -- item 7: a project in a subdirectory of its repository ------------------------------------------

def test_a_project_in_a_subdirectory_is_the_unit(tmp_path, git_identity, git, run_cli,
                                                 show_config, npm_modules):  # noqa: F811
    repo = tmp_path / "mono"
    project = link_bundlers(real_projects.in_subdirectory(repo, real_projects.build_dir_package),
                            npm_modules)
    commit(repo)
    main = git(repo, "rev-parse", "main")
    at_root = sorted(p.name for p in repo.iterdir())
    shown = show_config(project)
    assert shown["target_file"][0] == "source/index.js"
    assert shown["#project"] == (str(project), "")

    cli(run_cli, project, "setup", "--tag", TAG)
    steps = [{"edits": [["source/index.js", SHORTCUTS, "module.exports = { paint }"]],
              "say": "Export only paint"}]
    env = agent_env(tmp_path, steps)
    loop(run_cli, project, env, 1)

    # The agent worked in the project: its project-relative edit was taken and kept.
    assert [(e["status"], e["reason"]) for e in experiments(project)] == [
        ("keep", "baseline"), ("keep", "improved")]
    assert git(repo, "diff", "--name-only", main, BRANCH) == "packages/app/source/index.js"
    prompt = last_prompt(tmp_path)
    assert "source/index.js" in prompt and "packages/app" not in prompt
    # Every file the tool writes for the project is in the project; nothing at the root.
    for name in ("results.tsv", "run.log", EVENTS):
        assert (project / name).is_file() and not (repo / name).exists()
    _, rows = results_tsv(project)
    assert [row[3] for row in rows] == ["keep", "keep"]
    assert sorted(p.name for p in repo.iterdir()) == at_root
    assert sorted(p.name for p in (repo / "packages").iterdir()) == ["app", "other"]
    untouched(repo, git, main)  # no untracked .claude/ either
    shown, _ = cli(run_cli, project, "results")
    assert "Export only paint" in shown


# -- item 8: broken environments ---------------------------------------------------------------

def test_a_missing_program_is_named_before_anything_runs(tmp_path, git_identity, git,
                                                         run_cli):
    project = commit(real_projects.esm_library(tmp_path / "lib"))  # no npm install yet
    env = agent_env(tmp_path, [{"edits": [["src/lib.ts", DESCRIBE, ""]], "say": "x"}])
    for command in (["setup", "--tag", TAG], ["loop", "-n", "1", "--tag", TAG], ["measure"]):
        _, err = cli(run_cli, project, *command, env=env, code=3)
        assert err.splitlines()[-1] == (
            "autoresearch: error: run_command 'npm run build': npm run build runs 'vite build': "
            "'vite' is not installed (not on PATH); node_modules is missing: run 'npm install' "
            "first"), err
        assert len([line for line in err.splitlines() if "error" in line]) == 1
    assert not (tmp_path / "agent-argv.json").exists()  # the agent was never called
    assert not (project / EVENTS).exists() or experiments(project) == []
    assert git(project, "branch", "--list", f"autoresearch/{TAG}") == ""  # nothing was made
    assert git(project, "status", "--porcelain") == ""


TORCH = "import math\nimport torch  # noqa: F401  (the real train.py trains on a GPU)\n"


def test_a_crashing_baseline_stops_setup_and_loop_and_is_not_cached(tmp_path, git_identity,
                                                                     git, run_cli):
    train = (ML_DEMO / "train.py").read_text().replace("import math\n", TORCH, 1)
    project = ml_demo(tmp_path / "ml", git, {"train.py": train})
    cause = "exit code 1: ModuleNotFoundError: No module named 'torch'"
    steps = [train_edit("CONTEXT = 1 ", "CONTEXT = 3 ", "Condition on three characters"),
             train_edit("CONTEXT = 3 ", "CONTEXT = 0 ", "Try a unigram model")]
    env = agent_env(tmp_path, steps)

    out, err = cli(run_cli, project, "setup", "--tag", TAG, code=1)
    assert f"baseline val_bpb: crash ({cause})" in out
    assert "baseline measured" not in out
    assert err.startswith("autoresearch: error: no working baseline: commit ")
    assert cause in err
    _, err = loop(run_cli, project, env, 2, code=7)
    assert cause in err and "no working baseline" in err
    assert agent_calls(tmp_path) == 0 and not (tmp_path / "agent-argv.json").exists()
    assert statuses(project) == ["crash", "crash"]  # tried again, not taken from a cache
    assert all(e["error"] == cause for e in experiments(project))

    # item 13: nothing succeeded yet, and results says so without empty placeholders.
    shown, _ = cli(run_cli, project, "results")
    summary = shown.split("\n\n")[0]
    assert "baseline → best  no successful baseline yet" in summary
    assert "()" not in summary and "best commit" not in summary
    assert "keep rate" not in summary  # no experiment was attempted after a baseline
    out, err = cli(run_cli, project, "measure", code=1)
    assert cause in out

    # The user installs torch (a stand-in module on PYTHONPATH): the commit runs again.
    torch = tmp_path / "site"
    torch.mkdir()
    (torch / "torch.py").write_text("__version__ = '0.0'\n")
    fixed = {**env, "PYTHONPATH": os.pathsep.join(
        [str(torch), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out, _ = cli(run_cli, project, "measure", env=fixed)
    assert out.split()[1:3] == ["val_bpb", "2.847474"] and "cached" not in out
    out, _ = loop(run_cli, project, fixed, 2)
    assert [(e["status"], e["reason"]) for e in experiments(project)] == [
        ("crash", cause), ("crash", cause), ("keep", "baseline"), ("keep", "improved"),
        ("discard", "not improved")]
    assert agent_calls(tmp_path) == 2
    assert "stopped after 2 iterations: 2 experiments, 1 kept" in out
    # The keep rate counts the baseline as the loop does: 1 kept of 2 experiments.
    shown, _ = cli(run_cli, project, "results")
    assert "keep rate 50.0%" in shown
    assert "baseline → best  2.84747 → 1.05183" in shown
    untouched(project, git, git(project, "rev-parse", "main"))


def test_max_consecutive_crashes_stops_a_loop_that_cannot_work(tmp_path, git_identity, git,
                                                               run_cli):
    project = ml_demo(tmp_path / "ml", git)
    main = git(project, "rev-parse", "main")
    cli(run_cli, project, "setup", "--tag", TAG)
    steps = [train_edit("CONTEXT = 1 ", "CONTEXT = 99 ", "Use a very long context"),
             train_edit("BACKOFF = 50.0 ", "BACKOFF = -1.0 ", "Negative backoff"),
             train_edit("ALPHA = 1.0 ", "ALPHA = 0.0 ", "No smoothing")]
    _, err = loop(run_cli, project, agent_env(tmp_path, steps), 10,
                  "--max-consecutive-crashes", "2", code=7)

    assert agent_calls(tmp_path) == 2
    assert statuses(project) == ["keep", "crash", "crash"]
    errors = [e["error"] for e in experiments(project)[1:]]
    assert errors == ["exit code 1: FAIL: CONTEXT must be an integer in 0..16, got 99",
                      "exit code 1: FAIL: BACKOFF must be > 0, got -1.0"]
    assert ("2 experiments in a row crashed (max_consecutive_crashes 2); last: "
            "exit code 1: FAIL: BACKOFF must be > 0, got -1.0") in err
    assert git(project, "rev-parse", BRANCH) == main
    untouched(project, git, main)


# -- item 9: Java builds ---------------------------------------------------------------------------

MAIN = "src/main/java/com/example/Main.java"


def test_maven_wrapper_project_runs_clean_builds_every_run(tmp_path, git_identity, git,
                                                           run_cli, show_config):
    if shutil.which("javac") is None:
        pytest.skip("javac is not installed")
    project = commit(real_projects.maven_project(tmp_path / "wordcount"))
    main = git(project, "rev-parse", "main")
    command, origin = show_config(project)["run_command"]
    assert command == "./mvnw -q clean package -DskipTests"
    assert "the Maven wrapper mvnw is present" in origin

    repeats = ("--repeats", "2")  # the second run of each commit would find nothing to do
    cli(run_cli, project, "setup", "--tag", TAG, *repeats)
    steps = [{"edits": [[MAIN, 'String.join(" ", args)', 'String.join(" ", args).strip()']],
              "say": "Strip the input"},
             {"edits": [[MAIN, "System.out.println(", "System.out.println(("]],
              "say": "Break the build"}]
    loop(run_cli, project, agent_env(tmp_path, steps), 2, *repeats)

    done = experiments(project)
    assert [e["status"] for e in done][::2] == ["keep", "crash"]
    assert done[1]["status"] in ("keep", "discard")  # build times are noisy
    assert "error: ')' expected" in done[2]["error"]
    for e in done[:2]:
        assert len(e["samples"]) == 2 and all(0 < s < 60 for s in e["samples"])
        for run in (1, 2):  # every run compiled: clean builds, never a no-op
            log = (state_dir(project) / "runs" / e["full_commit"] / str(run) / "run.log")
            assert "[INFO] BUILD SUCCESS" in log.read_text()
            assert "Nothing to compile" not in log.read_text()
    untouched(project, git, main)


def test_maven_without_wrapper_or_mvn_is_named(tmp_path, git_identity, run_cli):
    project = commit(real_projects.maven_project(tmp_path / "plain", wrapper=False))
    only_git = real_projects.executable_dir(tmp_path / "bin", real=("git", "javac", "java"))
    _, err = cli(run_cli, project, "setup", "--tag", TAG,
                 env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{only_git}"}, code=3)
    assert err.splitlines()[-1].startswith(
        "autoresearch: error: run_command 'mvn -q clean package -DskipTests': 'mvn' is not "
        "installed (not on PATH); install Maven")


# -- item 10: an ML project shaped like karpathy/autoresearch --------------------------------------

PROGRAM = """\
# autoresearch

This is an experiment to have the LLM do its own research.

## Setup
1. Agree on a run tag and create the branch: `git checkout -b autoresearch/<tag>`.
2. Initialize results.tsv with just the header row.

## The experiment loop
LOOP FOREVER:
1. Tune `train.py` with an experimental idea by directly hacking the code.
2. git commit, then run the experiment: `python train.py > run.log 2>&1`
3. Record the results in results.tsv, then git reset if it did not improve.

NEVER STOP: do not pause to ask the human if you should continue.
Prefer a longer context to more smoothing.
"""


def test_karpathy_shaped_project_keeps_its_results_columns(tmp_path, git_identity, git,
                                                           run_cli, show_config):
    train = (ML_DEMO / "train.py").read_text() + 'print("peak_vram_mb:     1536.0")\n'
    project = ml_demo(tmp_path / "karpathy", git, {
        "train.py": train, "program.md": PROGRAM,
        "autoresearch.yaml": "results_columns: karpathy\n"})
    main = git(project, "rev-parse", "main")
    assert show_config(project)["results_columns"] == ("karpathy", "autoresearch.yaml:1")

    cli(run_cli, project, "setup", "--tag", TAG)
    steps = [train_edit("CONTEXT = 1 ", "CONTEXT = 3 ", "Condition on three characters"),
             train_edit("CONTEXT = 3 ", "CONTEXT = 0 ", "Try a unigram model")]
    loop(run_cli, project, agent_env(tmp_path, steps), 2)

    header, rows = results_tsv(project)
    assert header == ["commit", "val_bpb", "memory_gb", "status", "description"]
    assert rows == [[e["commit"], f"{e['value']:.6f}", "1.5", e["status"], e["description"]]
                    for e in experiments(project)]
    assert [row[3] for row in rows] == ["keep", "keep", "discard"]
    assert [row[1] for row in rows] == ["2.847474", "1.051832", "4.339176"]
    # program.md reaches the agent as research notes, after the loop's rules, which win.
    prompt = last_prompt(tmp_path)
    notes = prompt.index("## The project's research notes")
    assert prompt.index("## Rules") < notes < prompt.index("Prefer a longer context")
    assert "the rules above override them" in prompt[notes:]
    assert "LOOP FOREVER" in prompt[notes:]
    shown, _ = cli(run_cli, project, "results")
    assert "keep rate 50.0%" in shown
    untouched(project, git, main)
