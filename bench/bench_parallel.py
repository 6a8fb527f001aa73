"""Throughput of parallel loops: experiments per minute with ``--jobs 1`` and ``--jobs 2``,
and how busy the experiment slot is with and without ``--prefetch``.

    python bench/bench_parallel.py                  # about 2 minutes on 2 cores
    python bench/bench_parallel.py --iterations 20 --skip-prefetch

The experiment sleeps ``--sleep`` seconds (1 s) and prints ``score: N`` for a constant
``x`` in params.yaml; the agent is the trivial ``command`` agent (edit.sh), which writes the
next ``x`` of a fixed sequence. Each mode runs in a fresh project: ``autoresearch setup``
measures the baseline, then ``autoresearch loop -n N`` is timed from start to exit (CLI
start, work trees, every re-measure included).

1. throughput: ``--jobs 1`` vs ``--jobs 2``; the goal is a ratio >= 1.8.
2. prefetch: the agent also sleeps 30% of the experiment; the busy fraction of the one
   experiment slot is the summed run time (exp.sh's own timestamps) over the span from
   the first agent start to the last run end, without and with ``--prefetch``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, autoresearch_files, make_project, read_stamps

EXPERIMENT = """\
echo "run_start $(date +%s.%N)" >> "$BENCH_STAMPS"
x=$(sed -n 's/^x: *//p' params.yaml)
sleep "$BENCH_SLEEP"
echo "score: $(( (x - 370000) * (x - 370000) ))"
echo "run_end $(date +%s.%N)" >> "$BENCH_STAMPS"
"""
AGENT = """\
echo "agent_start $(date +%s.%N)" >> "$BENCH_STAMPS"
n=$(cat "$BENCH_COUNTER" 2>/dev/null || echo 0); echo $((n + 1)) > "$BENCH_COUNTER"
x=$(( (n * 7919 * 104729 + 12345) % 1000000 ))
sleep "$BENCH_AGENT_SLEEP"
printf 'x: %s\\n' "$x" > params.yaml
echo "set x to $x"
"""


def run_mode(work: Path, name: str, loop_args: list[str], *, iterations: int, sleep: float,
             agent_sleep: float, slots: int = 1) -> dict:
    """Set up a fresh project, time ``loop -n iterations`` with ``loop_args``."""
    project = make_project(work / name, EXPERIMENT, autoresearch_files(AGENT),
                           "one-second experiment")
    stamps = work / f"{name}.stamps"
    env = {**ENV, "BENCH_STAMPS": str(stamps), "BENCH_COUNTER": str(work / f"{name}.n"),
           "BENCH_SLEEP": str(sleep), "BENCH_AGENT_SLEEP": str(agent_sleep)}
    cli = [sys.executable, "-m", "autoresearch"]
    subprocess.run([*cli, "setup", "--tag", "bench"], cwd=project, env=env, check=True,
                   capture_output=True)
    stamps.unlink()  # the baseline's run is not part of the loop
    began = time.perf_counter()
    done = subprocess.run([*cli, "loop", "-n", str(iterations), "--json", *loop_args],
                          cwd=project, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{name}: loop exited {done.returncode}: {done.stderr.strip()}")
    summary = json.loads(done.stdout)
    return {"name": name, "wall_s": wall, "experiments": summary["experiments"],
            "kept": summary["kept"], "per_minute": summary["experiments"] / wall * 60,
            "busy": busy_fraction(stamps) / slots, "reruns": reruns(project)}


def busy_fraction(stamps: Path) -> float:
    """Summed run time over the span from the first agent start to the last run end (for
    N slots, divided by N by the caller)."""
    events = read_stamps(stamps)
    runs = sum(end - start for start, end in zip(sorted(events["run_start"]),
                                                 sorted(events["run_end"])))
    return runs / (max(events["run_end"]) - min(events["agent_start"]))


def reruns(project: Path) -> int:
    log = project / ".claude" / "logs" / "autoresearch.jsonl"
    return sum('"rebased_from"' in line and '"experiment_done"' in line
               for line in log.read_text().splitlines())


def show(result: dict) -> None:
    print(f"  {result['name']:<26} {result['experiments']:>3} experiments in "
          f"{result['wall_s']:6.1f} s = {result['per_minute']:5.1f}/min  "
          f"(kept {result['kept']}, re-measured {result['reruns']}, "
          f"slots busy {result['busy']:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per experiment")
    parser.add_argument("--skip-prefetch", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        work = Path(tmp)
        print(f"throughput: {args.iterations} experiments of {args.sleep:g} s, trivial agent, "
              f"{os.cpu_count()} cores")
        one = run_mode(work, "jobs 1", ["--jobs", "1"], iterations=args.iterations,
                       sleep=args.sleep, agent_sleep=0)
        show(one)
        two = run_mode(work, "jobs 2", ["--jobs", "2"], iterations=args.iterations,
                       sleep=args.sleep, agent_sleep=0, slots=2)
        show(two)
        ratio = two["per_minute"] / one["per_minute"]
        print(f"  ratio jobs 2 / jobs 1: {ratio:.2f}x (goal >= 1.8x: "
              f"{'met' if ratio >= 1.8 else 'NOT met'})")
        if args.skip_prefetch:
            return
        agent_sleep = 0.3 * args.sleep
        print(f"prefetch: the agent sleeps {agent_sleep:g} s (30% of the experiment), one slot")
        serial = run_mode(work, "jobs 1 (agent 30%)", [], iterations=args.iterations,
                          sleep=args.sleep, agent_sleep=agent_sleep)
        show(serial)
        ahead = run_mode(work, "jobs 1 --prefetch (30%)", ["--prefetch"],
                         iterations=args.iterations, sleep=args.sleep, agent_sleep=agent_sleep)
        show(ahead)


if __name__ == "__main__":
    main()
