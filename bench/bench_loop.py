"""The loop's own cost, side by side with DVC experiments, on one trivial experiment.

    pip install -e '.[test]'            # once, in a fresh checkout (or use .venv/bin/python)
    python bench/bench_loop.py          # everything: about 10 minutes on 2 slow cores
    python bench/bench_loop.py --iterations 100 --dvc-runs 5   # a quicker look

The experiment is the same for both tools: ``params.yaml`` holds one constant ``x``;
``exp.sh`` reads it and prints ``score: N`` (a few milliseconds of shell). autoresearch's
agent is the ``command`` agent running ``edit.sh``, which writes a new random ``x``;
DVC gets the same change from ``dvc exp run -S x=N``. DVC is installed from PyPI into a
venv of its own under ``~/.cache/autoresearch-bench`` (``$XDG_CACHE_HOME`` respected) on
the first run; it is never a dependency of autoresearch. ``--skip-dvc`` leaves it out.

What is measured, in one run:

1. overhead per experiment: for each loop iteration, the wall time from one agent start
   to the next minus the agent's and the run's own time as the loop records them
   (``agent_s``, ``duration_s`` in the JSONL log), median over ``--iterations``. A second
   figure subtracts what the two scripts themselves took (their own timestamps), so the
   runner's process handling counts as overhead too. DVC: ``dvc exp run -S x=N`` wall time
   minus what exp.sh took.
2. a cache hit: ``autoresearch measure SHA`` of a measured commit (wall, CLI start
   included) and ``Engine.measure`` in process; DVC: ``dvc exp run`` with nothing changed.
3. ``results`` over generated logs of 1,000 / 10,000 / 100,000 experiments (bench_results.py).
4. the loop process's peak RSS over ``--iterations`` and its child processes over time
   (GitPython keeps ``git cat-file`` processes alive unless repositories are closed).
5. ``autoresearch --help`` wall time and ``python -c pass`` (interpreter start) beside it.

Targets (the issue): overhead <= 50 ms, cache hit <= 30 ms, results on 100,000 < 1 s,
loop memory < 150 MB and flat, ``--help`` import time < 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from common import ENV, ROOT, autoresearch_files, git, read_stamps
from common import make_project as make_bench_project

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autoresearch-bench"
SAMPLE_S = 0.05  # how often the loop process is sampled for memory and children

EXPERIMENT = """\
[ -n "$BENCH_STAMPS" ] && echo "run_start $(date +%s.%N)" >> "$BENCH_STAMPS"
x=$(sed -n 's/^x: *//p' params.yaml)
echo "score: $(( (x - 370000) * (x - 370000) ))"
[ -n "$BENCH_STAMPS" ] && echo "run_end $(date +%s.%N)" >> "$BENCH_STAMPS"
exit 0
"""
AGENT = """\
[ -n "$BENCH_STAMPS" ] && echo "agent_start $(date +%s.%N)" >> "$BENCH_STAMPS"
old=$(sed -n 's/^x: *//p' params.yaml)
x=$(( $(od -An -N4 -tu4 /dev/urandom) % 1000000 ))
[ "$x" = "$old" ] && x=$(( (x + 1) % 1000000 ))
printf 'x: %s\\n' "$x" > params.yaml
echo "set x to $x"
[ -n "$BENCH_STAMPS" ] && echo "agent_end $(date +%s.%N)" >> "$BENCH_STAMPS"
exit 0
"""
DVC_YAML = """\
stages:
  exp:
    cmd: sh exp.sh > score.yaml
    deps: [exp.sh]
    params: [x]
    metrics:
      - score.yaml:
          cache: false
"""
TARGETS = {  # figure -> (limit, unit); a figure holds when it is <= its limit
    "overhead per experiment (loop's own view)": (50.0, "ms"),
    "what the strict sandbox adds per experiment": (150.0, "ms"),
    "cache hit: autoresearch measure (CLI)": (30.0, "ms"),
    "cache hit: Engine.measure (in process)": (30.0, "ms"),
    "results, 100,000 experiments (warm)": (1000.0, "ms"),
    "results, 100,000 experiments (cold)": (1000.0, "ms"),
    "loop peak RSS": (150.0, "MB"),
    "autoresearch --help minus interpreter start": (300.0, "ms"),
}


@dataclass
class Row:
    name: str
    value: float | None
    unit: str
    dvc: float | None = None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def add(self, name: str, value: float | None, unit: str, dvc: float | None = None,
            note: str = "") -> None:
        self.rows.append(Row(name, value, unit, dvc, note))


# -- helpers -------------------------------------------------------------------------
def make_project(path: Path, *, dvc: bool = False) -> Path:
    files = {"dvc.yaml": DVC_YAML} if dvc else autoresearch_files(AGENT)
    return make_bench_project(path, EXPERIMENT, files, "trivial experiment")


def autoresearch_argv() -> list[str]:
    """The CLI of this checkout (PYTHONPATH points at it), whatever is installed."""
    return [sys.executable, "-m", "autoresearch"]


def wall(argv: list[str], cwd: Path, env: dict | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env or ENV, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# -- 1, 4: the loop ------------------------------------------------------------------
class Sampler(threading.Thread):
    """Samples the loop process: RSS, all children, persistent git children."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float, int, int]] = []  # t, rss MB, children, cat-file
        self.done = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.done.is_set():
            try:
                rss = self.proc.memory_info().rss / 2**20
                children = self.proc.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            cat_file = 0
            for child in children:
                try:
                    cat_file += "cat-file" in child.cmdline()
                except psutil.Error:
                    pass
            self.samples.append((time.monotonic() - start, rss, len(children), cat_file))
            self.done.wait(SAMPLE_S)


def children_cpu() -> float:
    """CPU seconds of every child this process reaped (and of their reaped children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_loop(project: Path, iterations: int, stamps: Path, checkout: Path = ROOT,
             sandbox: str = "basic") -> tuple[float, float, Sampler]:
    """``autoresearch loop -n N`` of ``checkout`` in ``project``, sampled as it runs, with the
    agent sealed at ``sandbox``.

    Returns the wall seconds, the CPU seconds of the loop and everything it ran (git,
    the agent, the experiment: steadier than wall time on a busy machine) and the samples.
    """
    env = {**ENV, "BENCH_STAMPS": str(stamps), "PYTHONPATH": str(checkout),
           "AUTORESEARCH_SANDBOX": sandbox}
    argv = [*autoresearch_argv(), "loop", "--tag", "bench", "-n", str(iterations), "--quiet"]
    cpu = children_cpu()
    began = time.perf_counter()
    proc = psutil.Popen(argv, cwd=project, env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"autoresearch loop failed ({proc.returncode}): {err.decode()[-2000:]}")
    return time.perf_counter() - began, children_cpu() - cpu, sampler


def overheads(project: Path, stamps: Path) -> tuple[list[float], list[float], list[float],
                                                   list[float], list[float]]:
    """Per iteration: overhead as the loop sees it, overhead with process handling, wall;
    and the agent script's and the run script's own times.

    Iterations are measured from one run's start to the next (the runs are not sealed, so
    they can always write their stamps; a strictly sealed agent cannot): the span holds
    one agent call, one run and all the loop's own work in between. Where the agent could
    not stamp (strict), its own time is counted as overhead in the second figure.
    """
    from autoresearch.ledger import EVENTS_FILE, read_events

    records = [r["details"] for r in read_events(project / EVENTS_FILE)[0]
               if r["action"] == "experiment_done" and r["details"].get("agent_s") is not None]
    s = read_stamps(stamps)
    agent_inner = [e - b for b, e in zip(s.get("agent_start", []), s.get("agent_end", []))]
    run_starts = s["run_start"]
    run_inner = [e - b for b, e in zip(s["run_start"], s["run_end"])]
    own, full, spans = [], [], []
    for i in range(min(len(records), len(run_starts) - 1)):
        d = records[i]
        if d.get("reused_from") or d.get("cached") or "duration_s" not in d:
            continue  # no run of its own (content seen before): not comparable
        span = run_starts[i + 1] - run_starts[i]
        spans.append(span)
        own.append(span - d["agent_s"] - d["duration_s"])
        agent = agent_inner[i + 1] if i + 1 < len(agent_inner) else 0.0
        full.append(span - agent - run_inner[i])
    return own, full, spans, agent_inner, run_inner


def isolation_figures(scratch: Path, iterations: int, report: Report) -> None:
    """The same loop with the agent sealed by bubblewrap (strict) and not (basic)."""
    medians = {}
    for level in ("basic", "strict"):
        project = make_project(scratch / f"sealed-{level}")
        stamps = project.parent / f"stamps-{level}.txt"
        progress(f"autoresearch loop -n {iterations}, sandbox {level}")
        run_loop(project, iterations, stamps, sandbox=level)
        medians[level] = median_ms(overheads(project, stamps)[0])
        report.add(f"overhead per experiment, sandbox {level}", medians[level], "ms")
    report.add("what the strict sandbox adds per experiment",
               medians["strict"] - medians["basic"], "ms", note="target: under 150 ms")


def loop_figures(project: Path, iterations: int, report: Report) -> None:
    stamps = project.parent / "stamps.txt"
    progress(f"autoresearch loop -n {iterations} (trivial agent and run)")
    total, cpu, sampler = run_loop(project, iterations, stamps)
    own, full, spans, agent_inner, run_inner = overheads(project, stamps)
    n = len(own)
    report.add("overhead per experiment (loop's own view)", median_ms(own), "ms",
               note=f"median of {n}; wall - agent_s - duration_s; sandbox basic")
    report.add("overhead incl. process handling", median_ms(full), "ms",
               note="wall - the two scripts' own time")
    tenth = max(n // 10, 1)
    report.add("  same, first 10% of iterations", median_ms(full[:tenth]), "ms")
    report.add("  same, last 10% of iterations", median_ms(full[-tenth:]), "ms")
    report.add("wall per iteration", median_ms(spans), "ms",
               note=f"agent script {median_ms(agent_inner):.0f} ms, run script "
                    f"{median_ms(run_inner):.0f} ms")
    report.add("CPU per iteration (loop, git, scripts)", cpu / iterations * 1000, "ms",
               note="start-up and baseline included")
    rss = [x[1] for x in sampler.samples]
    report.add("loop peak RSS", max(rss), "MB", note=f"{iterations} iterations")
    first = [x for x in sampler.samples if x[0] < sampler.samples[-1][0] * 0.1]
    last = [x for x in sampler.samples if x[0] > sampler.samples[-1][0] * 0.9]
    report.add("  RSS max, first 10% of the run", max(x[1] for x in first), "MB")
    report.add("  RSS max, last 10% of the run", max(x[1] for x in last), "MB")
    report.add("  children max, first/last 10%", None, "",
               note=f"{max(x[2] for x in first)} / {max(x[2] for x in last)} "
                    f"(git cat-file: {max(x[3] for x in first)} / {max(x[3] for x in last)})")
    report.extra["loop"] = {"iterations": iterations, "total_s": total, "cpu_s": cpu,
                            "overhead_own_ms": own,
                            "overhead_full_ms": full,
                            "samples": sampler.samples[:: max(len(sampler.samples) // 400, 1)]}


# -- 2: cache hit ---------------------------------------------------------------------
def cache_figures(project: Path, repeats: int, report: Report) -> None:
    progress("cache hits: autoresearch measure")
    sha = git(project, "rev-parse", "autoresearch/bench~1")  # measured by the loop
    argv = [*autoresearch_argv(), "measure", sha]
    out = subprocess.run(argv, cwd=project, env=ENV, capture_output=True, text=True)
    if "cached" not in out.stdout:
        raise SystemExit(f"expected a cache hit, got: {out.stdout}{out.stderr}")
    cli = [wall(argv, project) for _ in range(repeats)]
    from autoresearch.config import resolve
    from autoresearch.engine import Engine
    from autoresearch.git import open_repo

    from autoresearch.state import locate

    config = resolve(project, {})
    with open_repo(project) as repo:
        engine = Engine(config, locate(project), repo)
        engine.measure(sha)
        inner = []
        for _ in range(repeats * 2):
            began = time.perf_counter()
            measured = engine.measure(sha)
            inner.append(time.perf_counter() - began)
        assert measured.cached
    report.add("cache hit: autoresearch measure (CLI)", median_ms(cli), "ms",
               note=f"median of {repeats}")
    report.add("cache hit: Engine.measure (in process)", median_ms(inner), "ms",
               note=f"median of {repeats * 2}")
    report.extra["cache"] = {"cli_s": cli, "engine_s": inner}


def help_figures(project: Path, repeats: int, report: Report) -> None:
    progress("autoresearch --help")
    bare = [wall([sys.executable, "-c", "pass"], project) for _ in range(repeats)]
    helps = [wall([*autoresearch_argv(), "--help"], project) for _ in range(repeats)]
    report.add("autoresearch --help (wall)", median_ms(helps), "ms")
    report.add("autoresearch --help minus interpreter start", median_ms(helps) - median_ms(bare),
               "ms", note=f"python -c pass: {median_ms(bare):.0f} ms")


# -- 3: results -------------------------------------------------------------------------
def results_figures(scratch: Path, report: Report) -> None:
    import bench_results

    for count in bench_results.SIZES:
        progress(f"results over {count:,} experiments")
        project = scratch / f"results-{count}"
        cold, warm, night = bench_results.measure(project, count)
        report.add(f"results, {count:,} experiments (cold)", cold * 1000, "ms")
        report.add(f"results, {count:,} experiments (warm)", warm * 1000, "ms",
                   note=f"+100 appended: {night * 1000:.0f} ms")


# -- DVC --------------------------------------------------------------------------------
def dvc_executable() -> Path:
    venv = CACHE_DIR / "dvc-venv"
    dvc = venv / "bin" / "dvc"
    if not dvc.exists():
        progress(f"installing dvc from PyPI into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "dvc"],
                       check=True)
    return dvc


def dvc_figures(scratch: Path, runs: int, report: Report) -> dict[str, float]:
    dvc = str(dvc_executable())
    project = make_project(scratch / "dvc", dvc=True)
    env = {**ENV, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(dvc).parent}:{ENV['PATH']}"}
    stamps = scratch / "dvc-stamps.txt"
    subprocess.run([dvc, "init", "-q"], cwd=project, env=env, check=True)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "dvc init")
    progress(f"dvc exp run -S x=N, {runs} times")
    wall([dvc, "exp", "run", "-q"], project, env)  # the first run of the stage
    run_env = {**env, "BENCH_STAMPS": str(stamps)}
    changed, peaks = [], []
    for i in range(runs):
        began = time.perf_counter()
        proc = psutil.Popen([dvc, "exp", "run", "-q", "-S", f"x={1000 + i}"], cwd=project,
                            env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0.0
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(SAMPLE_S)
        changed.append(time.perf_counter() - began)
        peaks.append(peak)
        if proc.returncode != 0:
            raise SystemExit(f"dvc exp run failed with {proc.returncode}")
    s = read_stamps(stamps)
    script = [e - b for b, e in zip(s["run_start"], s["run_end"])]
    overhead = [w - r for w, r in zip(changed, script)]
    progress(f"dvc exp run (nothing changed: cached), {runs} times")
    hits = [wall([dvc, "exp", "run", "-q"], project, env) for _ in range(runs)]
    helps = [wall([dvc, "--help"], project, env) for _ in range(runs)]
    report.extra["dvc"] = {"changed_s": changed, "overhead_s": overhead, "hit_s": hits,
                           "help_s": helps, "peak_rss_mb": peaks,
                           "version": subprocess.run([dvc, "--version"], capture_output=True,
                                                     text=True).stdout.strip()}
    return {"overhead": median_ms(overhead), "hit": median_ms(hits), "help": median_ms(helps),
            "rss": max(peaks), "wall": median_ms(changed)}


# -- the table ---------------------------------------------------------------------------
def attach_dvc(report: Report, dvc: dict[str, float]) -> None:
    pairs = {"overhead per experiment (loop's own view)": "overhead",
             "overhead incl. process handling": "overhead",
             "wall per iteration": "wall",
             "cache hit: autoresearch measure (CLI)": "hit",
             "cache hit: Engine.measure (in process)": "hit",
             "autoresearch --help (wall)": "help", "loop peak RSS": "rss"}
    for row in report.rows:
        if row.name in pairs:
            row.dvc = dvc[pairs[row.name]]


def verdict(row: Row) -> str:
    if row.name not in TARGETS or row.value is None:
        return ""
    limit, unit = TARGETS[row.name]
    return f"{'ok' if row.value <= limit else 'MISS'} (<= {limit:g} {unit})"


def print_table(report: Report) -> None:
    header = f"{'figure':<46} {'autoresearch':>13} {'DVC':>10} {'ratio':>7}  {'target':<18} note"
    print(header)
    print("-" * len(header))
    for row in report.rows:
        value = "" if row.value is None else f"{row.value:,.1f} {row.unit}"
        dvc = "" if row.dvc is None else f"{row.dvc:,.0f} {row.unit}"
        ratio = "" if row.dvc is None or row.value is None else f"{row.value / row.dvc:.3f}"
        print(f"{row.name:<46} {value:>13} {dvc:>10} {ratio:>7}  {verdict(row):<18} {row.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000,
                        help="loop iterations for overhead, memory and children (default 1000)")
    parser.add_argument("--dvc-runs", type=int, default=10, help="dvc exp runs of each kind")
    parser.add_argument("--repeats", type=int, default=15, help="repeats of the CLI timings")
    parser.add_argument("--skip-dvc", action="store_true", help="leave DVC out")
    parser.add_argument("--skip-results", action="store_true", help="leave `results` out")
    parser.add_argument("--skip-isolation", action="store_true",
                        help="leave out the strict-versus-basic sandbox comparison")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    report = Report()
    try:
        project = make_project(scratch / "autoresearch")
        loop_figures(project, args.iterations, report)
        if not args.skip_isolation:
            isolation_figures(scratch, min(args.iterations, 100), report)
        cache_figures(project, args.repeats, report)
        help_figures(project, args.repeats, report)
        if not args.skip_results:
            results_figures(scratch, report)
        if not args.skip_dvc:
            attach_dvc(report, dvc_figures(scratch, args.dvc_runs, report))
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table(report)
    if "dvc" in report.extra:
        print(f"\nDVC {report.extra['dvc']['version']}: overhead = dvc exp run -S wall - exp.sh "
              "time; cache hit = dvc exp run with nothing changed; RSS = the dvc process; "
              "ratio = autoresearch / DVC.")
    if args.json:
        args.json.write_text(json.dumps({"rows": [row.__dict__ for row in report.rows],
                                         **report.extra}, indent=1))


if __name__ == "__main__":
    main()
