"""End to end: the whole ``autoresearch loop`` on a real project of each type.

Every test copies a small project into a temporary git repository and runs the real CLI
(``python -m autoresearch loop -n N``) with the stand-in ``claude`` first on PATH: it is
called with the real ``claude -p`` command line and edits the target file as a coding
agent would, one scripted edit per call (``STANDIN_SCRIPT``). The builds are real: the ML
demo trains, the web project is bundled by esbuild from the npm registry, the Java project
is compiled by javac, the custom project runs its own training script. Only Flutter uses a
stand-in SDK (``tests/fixtures/bin/flutter``), since there is none on the test machines.

After the loop each test checks the decisions, results.tsv, the JSONL log and git: the
branch is at the best commit, the tree is clean and no discarded commit is on the branch.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import state_dir

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
STANDINS = TESTS / "standins"
EXAMPLES = TESTS.parent / "examples"
TAG = "e2e"
BRANCH = f"autoresearch/{TAG}"
RESULTS_HEADER = ["commit", "metric", "value", "status", "description"]
# What running a fixture or example by hand may have left in it: never copied.
LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.pyc", ".autoresearch", ".claude",
                                   "results.tsv", "run.log", "node_modules", "dist", "out",
                                   "build")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No stand-in steering or user recipes leak in from the environment running the tests."""
    for name in list(os.environ):
        if name.startswith("STANDIN_") or name == "AUTORESEARCH_RECIPES":
            monkeypatch.delenv(name)


# -- helpers -------------------------------------------------------------------------------

def make_project(source: Path, destination: Path, git) -> Path:
    """Copy ``source`` to ``destination`` and commit it on branch main."""
    shutil.copytree(source, destination, ignore=LEFTOVERS)
    git(destination, "init", "--quiet", "--initial-branch=main")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "the project")
    return destination


def agent_env(tmp_path: Path, steps: list[dict], *extra_path: Path) -> dict[str, str]:
    """The environment of a loop whose claude is the stand-in, following ``steps``.

    A step is ``{"edits": [[path, OLD, NEW], ...], "say": "summary line"}``; call N of the
    agent applies step N (see tests/standins/standin_common.py).
    """
    script = tmp_path / "agent-script.json"
    script.write_text(json.dumps(steps))
    path = [str(STANDINS), *map(str, extra_path), str(Path(sys.executable).parent),
            os.environ["PATH"]]
    return {
        "PATH": os.pathsep.join(path),
        "STANDIN_SCRIPT": str(script),
        "STANDIN_ARGV_LOG": str(tmp_path / "claude-argv.json"),
        "AUTORESEARCH_BACKOFF_S": "0",
    }


def run_loop(run_cli, project: Path, env: dict[str, str], iterations: int,
             timeout: float = 240) -> dict:
    """``autoresearch loop -n N --tag e2e --quiet --json``; returns the JSON summary."""
    args = ["loop", "-n", str(iterations), "--tag", TAG, "--quiet", "--json"]
    code, out, err = run_cli(args, project, env, timeout=timeout)
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    return json.loads(out)


def checkout(project: Path, rev: str, where: Path, git) -> Path:
    """A separate checkout of ``rev`` (the loop's own worktrees are gone when it ends)."""
    git(project, "worktree", "add", "--quiet", "--detach", str(where), rev)
    return where


def results_rows(project: Path) -> list[dict[str, str]]:
    lines = (project / "results.tsv").read_text().splitlines()
    assert lines[0].split("\t") == RESULTS_HEADER
    return [dict(zip(RESULTS_HEADER, line.split("\t"))) for line in lines[1:]]


def events(project: Path) -> list[dict]:
    text = (project / ".claude" / "logs" / "autoresearch.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def check_run(project: Path, git, *, metric: str, statuses: list[str],
              descriptions: list[str]) -> list[dict]:
    """Check results.tsv, the JSONL log and git after a loop; return the experiment details.

    ``statuses`` and ``descriptions`` are the experiments' after the baseline, in order.
    """
    all_statuses = ["keep", *statuses]
    # results.tsv: the baseline and one row per experiment, in the seed's columns.
    rows = results_rows(project)
    assert [r["status"] for r in rows] == all_statuses
    assert [r["description"] for r in rows] == ["baseline", *descriptions]
    assert {r["metric"] for r in rows} == {metric}
    for row in rows:
        value = float(row["value"])
        assert len(row["value"].split(".")[1]) == 6
        assert (value == 0) == (row["status"] == "crash"), row

    # The JSONL log: the same experiments with prev/delta/tag/timestamp, and the session.
    log = events(project)
    done = [e["details"] for e in log if e["action"] == "experiment_done"]
    assert [d["status"] for d in done] == all_statuses
    assert [d["number"] for d in done] == list(range(1, len(all_statuses) + 1))
    assert all(d["tag"] == TAG and d["metric"] == metric and d["timestamp"] for d in done)
    assert [d["commit"] for d in done] == [r["commit"] for r in rows]
    for d in done:
        assert d["value"] == pytest.approx(float(rows[d["number"] - 1]["value"]), abs=1e-6)
    actions = [e["action"] for e in log]
    assert actions[0] == "experiment_done" and actions.count("session_start") == 1
    assert actions[-1] == "session_end"
    end = log[-1]["details"]
    assert (end["experiments"], end["kept"]) == (len(statuses), statuses.count("keep"))
    assert actions.count("experiment_start") == sum(1 for d in done[1:] if d["full_commit"])

    # prev and delta follow the running best.
    best = done[0]["value"]
    for d in done[1:]:
        assert d["prev"] == pytest.approx(best)
        if d["status"] != "crash":
            assert d["delta"] == pytest.approx(d["value"] - best, abs=1e-9)
        if d["status"] == "keep":
            best = d["value"]

    # git: the user's tree untouched on main; the branch at the last keep, with exactly the
    # kept experiments on it.
    main = git(project, "rev-parse", "main")
    head = git(project, "rev-parse", BRANCH)
    assert git(project, "branch", "--show-current") == "main"
    assert git(project, "rev-parse", "HEAD") == main
    assert git(project, "status", "--porcelain") == ""
    assert done[0]["full_commit"] == main
    keeps = [d["full_commit"] for d in done if d["status"] == "keep"]
    assert head == keeps[-1]
    assert git(project, "rev-list", "--reverse", f"main..{BRANCH}").split() == keeps[1:]
    for d in done:
        if d["status"] != "keep" and d["full_commit"]:
            on_branch = subprocess.run(["git", "merge-base", "--is-ancestor", d["full_commit"],
                                        BRANCH], cwd=project).returncode == 0
            assert not on_branch, f"discarded commit {d['commit']} is on the branch"
            message = git(project, "log", "-1", "--format=%s", d["full_commit"])
            assert message == f"experiment: {d['description']}"
    for sha in keeps[1:]:
        subject = git(project, "log", "-1", "--format=%s", sha)
        assert subject.startswith("experiment: ")
    return done


def between(text: str, start: str, end: str) -> str:
    """The part of ``text`` from the line holding ``start`` through the line holding ``end``."""
    first = text.index(start)
    first = text.rindex("\n", 0, first) + 1
    last = text.index("\n", text.index(end)) + 1
    return text[first:last]


# -- ML ----------------------------------------------------------------------------------

def test_ml_demo_project(tmp_path, git_identity, git, run_cli):
    project = make_project(EXAMPLES / "ml-demo", tmp_path / "ml", git)
    steps = [
        {"edits": [["train.py", "CONTEXT = 1 ", "CONTEXT = 3 "]],
         "say": "Condition on three characters of context"},
        {"edits": [["train.py", "CONTEXT = 3 ", "CONTEXT = 0 "]],
         "say": "Try a unigram model"},
        {"edits": [["train.py", "CONTEXT = 3 ", "CONTEXT = 99 "]],
         "say": "Use a very long context"},
        {"edits": [["train.py", "CONTEXT = 3 ", "CONTEXT = 5 "]],
         "say": "Condition on five characters of context"},
    ]
    env = agent_env(tmp_path, steps)
    summary = run_loop(run_cli, project, env, iterations=4)

    done = check_run(project, git, metric="val_bpb",
                     statuses=["keep", "discard", "crash", "keep"],
                     descriptions=[s["say"] for s in steps])
    values = [d["value"] for d in done]
    assert values[0] == pytest.approx(2.847474, abs=1e-6)  # CONTEXT = 1
    assert values[1] == pytest.approx(1.051832, abs=1e-6)  # 3: better, kept
    assert values[2] == pytest.approx(4.339176, abs=1e-6)  # 0: worse, discarded
    assert done[3]["error"] == (  # 99: train.py refuses it, and the log says why
        "exit code 1: FAIL: CONTEXT must be an integer in 0..16, got 99")
    assert values[4] == pytest.approx(0.722361, abs=1e-6)  # 5: better again, kept
    assert summary["best"] == pytest.approx(values[4])
    assert summary["best_commit"] == done[4]["full_commit"]
    assert "CONTEXT = 5 " in git(project, "show", f"{BRANCH}:train.py")
    assert "FAIL: CONTEXT must be an integer in 0..16" in (
        state_dir(project) / "runs" / done[3]["full_commit"] / "1" / "run.log").read_text()

    # The agent was called four times, with the real claude command line.
    assert (tmp_path / "agent-script.json.calls").read_text() == "4"
    argv = json.loads((tmp_path / "claude-argv.json").read_text())
    assert argv[0] == "-p" and "train.py" in argv[1]
    assert argv[2:6] == ["--output-format", "json", "--permission-mode", "acceptEdits"]
    assert "--dangerously-skip-permissions" not in argv


# -- Web (Node.js) -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def esbuild_modules(tmp_path_factory) -> Path:
    """node_modules with esbuild, installed once per session from the fixture's lockfile.

    ``npm ci --prefer-offline`` takes the tarballs from npm's cache when it has them, so
    after the first run on a machine the install needs no network.
    """
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    cache = tmp_path_factory.mktemp("npm")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(FIXTURES / "web" / name, cache / name)
    done = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"],
                          cwd=cache, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    modules = cache / "node_modules"
    assert (modules / ".bin" / "esbuild").exists()
    return modules


def test_web_project_bundled_by_esbuild(tmp_path, git_identity, git, run_cli, esbuild_modules):
    source = (FIXTURES / "web" / "src" / "index.js").read_text()
    legacy = between(source, "// --- legacy dashboard", "// --- end of legacy dashboard")
    fallback = '"<h1>Not found</h1><p>The page you are looking for does not exist.</p>"'
    about = ('route("/about", () => "<h1>About</h1><p>A small shop since 1999: books, maps, '
             'lanterns and kettles.</p>");\n')
    steps = [
        {"edits": [["src/index.js", legacy, ""]], "say": "Remove the unused legacy dashboard"},
        {"edits": [["src/index.js", 'route("*"', about + 'route("*"']],
         "say": "Add an about page"},
        {"edits": [["src/index.js", fallback, '"<h1>404</h1>"']],
         "say": "Shorten the not-found page"},
    ]
    project = make_project(FIXTURES / "web", tmp_path / "web", git)
    (project / "node_modules").symlink_to(esbuild_modules, target_is_directory=True)
    env = agent_env(tmp_path, steps)
    run_loop(run_cli, project, env, iterations=3)

    done = check_run(project, git, metric="bundle_size_kb", statuses=["keep", "discard", "keep"],
                     descriptions=[s["say"] for s in steps])
    sizes = [d["value"] for d in done]
    assert sizes[1] < sizes[0] and sizes[2] > sizes[1] and sizes[3] < sizes[1]
    # The metric is the real bundle: dist/app.js as the best commit builds it, gzipped, in KB.
    best = checkout(project, BRANCH, tmp_path / "best", git)
    (best / "node_modules").symlink_to(esbuild_modules, target_is_directory=True)
    subprocess.run(["npm", "run", "build"], cwd=best, check=True, capture_output=True,
                   env={**os.environ, **env})
    bundle = best / "dist" / "app.js"
    gzipped = len(gzip.compress(bundle.read_bytes(), compresslevel=9, mtime=0))
    assert gzipped / 1024 == pytest.approx(sizes[3], abs=1e-6)
    assert "legacy-dashboard" not in bundle.read_text()
    assert "/about" not in bundle.read_text()
    assert (project / "node_modules").is_symlink()
    tracked = git(project, "ls-files").split()
    assert not [f for f in tracked if f.startswith(("node_modules", "dist"))]
    # Measuring the best commit again runs nothing.
    code, out, err = run_cli(["measure", BRANCH], project, env)
    assert (code, err) == (0, "")
    assert out.split()[1:3] == ["bundle_size_kb", f"{sizes[3]:.6f}"] and "cached" in out


# -- Java --------------------------------------------------------------------------------

def test_java_project_compiled_by_javac(tmp_path, git_identity, git, run_cli, show_config):
    if shutil.which("javac") is None:
        pytest.skip("javac is not installed")
    main = "src/main/java/com/example/Main.java"
    source = (FIXTURES / "java" / main).read_text()
    legacy = between(source, "// Old report formats", "// End of old report formats.")
    steps = [
        {"edits": [[main, legacy, ""]], "say": "Remove the unused legacy reports"},
        {"edits": [[main, "        System.out.println(report(histogram.counts()));",
                    "        System.out.println(report(histogram.counts()))"]],
         "say": "Drop a semicolon"},
        {"edits": [[main, "    static String report(",
                    "    static int size(Map<String, Integer> c) {\n        return c.size();\n"
                    "    }\n\n    static String report("]],
         "say": "Add a size helper"},
    ]
    project = make_project(FIXTURES / "java", tmp_path / "java", git)

    # The java recipe is detected from pom.xml; it finds the class with main; the build
    # command is autoresearch.yaml's (javac: Maven Central is out of reach, see there).
    shown = show_config(project)
    assert shown["#type"][0].startswith("java ")
    assert shown["target_file"] == (main, "recipe java (java.yaml)")
    assert shown["run_command"][0].startswith("javac ")
    assert shown["run_command"][1].startswith("autoresearch.yaml:")
    assert shown["metric_source"][0] == "time" and shown["metric_unit"][0] == "s"

    run_loop(run_cli, project, agent_env(tmp_path, steps), iterations=3)

    statuses = [r["status"] for r in results_rows(project)]
    # Build times are noisy: which builds win is not asserted, only that the decisions are
    # consistent (check_run) and that the broken build crashed.
    assert statuses[2] == "crash" and {statuses[1], statuses[3]} <= {"keep", "discard"}
    done = check_run(project, git, metric="build_time_s", statuses=statuses[1:],
                     descriptions=[s["say"] for s in steps])
    for d in done:
        if d["status"] != "crash":
            assert len(d["samples"]) == 2 and 0 < d["value"] < 60
    assert done[2]["error"].startswith("exit code 1: ")
    assert "';' expected" in done[2]["error"]
    log = state_dir(project) / "runs" / done[2]["full_commit"] / "1" / "run.log"
    assert "error: ';' expected" in log.read_text()
    # javac really compiles the project: the best commit's classes run.
    best = checkout(project, BRANCH, tmp_path / "best", git)
    command = git(project, "show", f"{BRANCH}:autoresearch.yaml").split("run_command:")[1]
    subprocess.run(command.splitlines()[0].strip().strip("'\""), shell=True, cwd=best,
                   check=True, capture_output=True, timeout=120)
    ran = subprocess.run(["java", "-cp", "out", "com.example.Main", "to be or not to be"],
                         cwd=best, capture_output=True, text=True, timeout=60)
    assert ran.stdout.splitlines() == ["be: 2", "not: 1", "or: 1", "to: 2"], ran.stderr


# -- Flutter -------------------------------------------------------------------------------

def test_flutter_project_with_standin_sdk(tmp_path, git_identity, git, run_cli):
    main = "lib/main.dart"
    source = (FIXTURES / "flutter" / main).read_text()
    legacy = between(source, "// Unused since the redesign.", "// End of unused code.")
    steps = [
        {"edits": [[main, legacy, ""]], "say": "Remove the unused LegacyBanner widget"},
        {"edits": [[main, "      title: 'Counter',", "      title: 'Counter',\n"
                    "      debugShowCheckedModeBanner: false,\n      restorationScopeId: 'app',"]],
         "say": "Add restoration and hide the debug banner"},
        {"edits": [[main, "  const CounterApp({super.key});\n\n", ""]],
         "say": "Drop the explicit constructor"},
    ]
    project = make_project(FIXTURES / "flutter", tmp_path / "flutter", git)
    env = agent_env(tmp_path, steps, FIXTURES / "bin")
    calls = tmp_path / "flutter-calls.jsonl"
    env["FLUTTER_STANDIN_LOG"] = str(calls)
    run_loop(run_cli, project, env, iterations=3)

    done = check_run(project, git, metric="apk_size_mb", statuses=["keep", "discard", "keep"],
                     descriptions=[s["say"] for s in steps])
    # The recipe's command line, exactly, once per build (baseline + 3).
    assert [json.loads(line) for line in calls.read_text().splitlines()] == \
        [["build", "apk", "--release"]] * 4
    # The metric is the APK's size in MB: 1 MiB + 100 bytes per byte of main.dart.
    for d in done:
        dart = subprocess.run(["git", "show", f"{d['full_commit']}:{main}"], cwd=project,
                              capture_output=True, check=True).stdout
        assert d["value"] == pytest.approx((2**20 + 100 * len(dart)) / 2**20, abs=1e-9)
    best = checkout(project, BRANCH, tmp_path / "best", git)
    subprocess.run(["flutter", "build", "apk", "--release"], cwd=best, check=True,
                   env={**os.environ, **env}, capture_output=True)
    apk = best / "build" / "app" / "outputs" / "flutter-apk" / "app-release.apk"
    assert apk.stat().st_size / 2**20 == pytest.approx(done[-1]["value"], abs=1e-6)


# -- Custom (CLAUDE.md only) ------------------------------------------------------------

def test_custom_project_configured_by_claude_md(tmp_path, git_identity, git, run_cli,
                                                show_config):
    from conftest import SEED_SECTION

    assert SEED_SECTION in (FIXTURES / "custom" / "CLAUDE.md").read_text()
    steps = [
        {"edits": [["src/model.py", "LAYERS = 2 ", "LAYERS = 3 "]], "say": "Add a hidden layer"},
        {"edits": [["src/model.py", "DROPOUT = 0.1 ", "DROPOUT = 0.5 "]],
         "say": "Regularise harder"},
        {"edits": [["data/dataset.py", '("bad", 0)', '("bad", 1)'],
                   ["src/model.py", "LAYERS = 3 ", "LAYERS = 3 / 0 "]],
         "say": "Relabel a confusing example"},
    ]
    project = make_project(FIXTURES / "custom", tmp_path / "custom", git)
    shown = show_config(project)
    assert shown["#type"][0].startswith("custom ")
    assert shown["target_file"] == ("src/model.py", "CLAUDE.md:7")
    assert shown["metric_source"][0] == "command"
    assert shown["readonly_files"][0] == "data/dataset.py, config.yaml"
    run_loop(run_cli, project, agent_env(tmp_path, steps), iterations=3)

    done = check_run(project, git, metric="accuracy", statuses=["keep", "discard", "crash"],
                     descriptions=[s["say"] for s in steps])
    assert [d["value"] for d in done[:3]] == [0.88, 0.92, 0.52]  # higher is better
    assert done[1]["delta"] == pytest.approx(0.04) and done[2]["delta"] == pytest.approx(-0.40)
    # Only the target crosses back: the edit of the read-only file is listed and dropped.
    assert done[3]["ignored_files"] == ["data/dataset.py"]
    assert done[3]["error"].startswith("exit code 1")
    assert '("bad", 0)' in (project / "data" / "dataset.py").read_text()
    assert '("bad", 0)' in git(project, "show", f"{done[3]['full_commit']}:data/dataset.py")
    # run.log in the project is a copy of the last run's log: the crash's.
    assert (project / "run.log").read_text().splitlines()[-1] == (
        "ZeroDivisionError: division by zero")


# -- the demo command ----------------------------------------------------------------------

def test_demo_command(tmp_path, git_identity, run_cli):
    pytest.importorskip("optuna")
    pytest.importorskip("matplotlib")
    target = tmp_path / "demo"
    code, out, err = run_cli(["demo", "--iterations", "3", "--dir", str(target)], tmp_path,
                             timeout=240)
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    rows = results_rows(target)
    assert len(rows) == 4 and rows[0]["status"] == "keep"
    values = [float(r["value"]) for r in rows if r["status"] == "keep"]
    assert min(values) < values[0]  # the tune agent found a better val_bpb
    assert (target / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The summary it prints: baseline -> best, the best lower (better) than the baseline.
    line = next(line for line in out.splitlines() if "→" in line)
    baseline, best = (float(n) for n in re.findall(r"\d+\.\d+", line)[:2])
    assert baseline == pytest.approx(values[0], rel=1e-5)
    assert best == pytest.approx(min(values), rel=1e-5) and best < baseline
    assert "val_bpb" in out
