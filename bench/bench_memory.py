"""Memory and prompt cost of a loop that never stops: flat from 1,000 to 100,000 experiments.

For ledgers of 1,000 / 10,000 / 100,000 logged experiments (written directly, in the shape
the loop writes them), a fresh process per size loads the history the way a starting loop
does (``History.of`` streaming the ledger) and builds the agent's prompt from it, and
reports its peak RSS and the median prompt build time over 50 builds.

Targets (issue 12): RSS growth under 10 MB from 1k to 100k; a prompt build under 20 ms at
100k, no slower than at 1k.

    python bench/bench_memory.py
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = (1_000, 10_000, 100_000)
BUILDS = 50
TAG = "bench"


def write_ledger(path: Path, count: int) -> None:
    from autoresearch.decide import Decision
    from autoresearch.experiment import AgentUsage, Experiment, Measurement
    from autoresearch.ledger import format_record

    rng = random.Random(count)
    best = 1.0
    with path.open("w") as out:
        for number in range(1, count + 1):
            value = round(best + rng.uniform(-0.01, 0.03), 6)
            status = "keep" if number == 1 or value < best else rng.choice(["discard", "crash"])
            commit = f"{rng.getrandbits(160):040x}"
            measured = Measurement(commit, None if status == "crash" else value,
                                   samples=() if status == "crash" else (value,),
                                   duration_s=12.3, code_lines=120)
            experiment = Experiment(
                number=number, tag=TAG, metric="val_bpb", direction="lower_is_better",
                description=f"idea {number}: change the learning rate schedule " * 2,
                decision=Decision(status, "improved" if status == "keep" else "not improved"),
                commit=commit, measurement=measured, prev=None if number == 1 else best,
                error="exit code 1: RuntimeError: CUDA out of memory" if status == "crash"
                else None, agent=AgentUsage(0.04, 30.0, 12000, 800))
            out.write(format_record(*experiment.to_record()) + "\n")
            if status == "keep":
                best = value


def measure(path: str) -> None:
    """In a fresh process: load the history, build the prompt; print peak RSS and timings."""
    from autoresearch import prompt
    from autoresearch.history import History
    from autoresearch.mirrors import iter_records

    began = time.perf_counter()
    history = History.of(TAG, iter_records(Path(path)))
    load_s = time.perf_counter() - began
    times = []
    for _ in range(BUILDS):
        began = time.perf_counter()
        prompt.build(prompt.PromptContext(
            project_type="ml", target_files=("train.py",), readonly_files=("prepare.py",),
            metric_name="val_bpb", direction="lower_is_better", run_command="python train.py",
            time_budget_s=300, best_value=history.best_value, best_commit="abcdef1",
            baseline_value=history.baseline_value, recent=tuple(history.recent),
            keeps=tuple(history.keeps), total=history.total, crash_log_tail="x" * 4000,
            instructions="notes " * 500))
        times.append(time.perf_counter() - began)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mb": rss_mb, "load_s": load_s,
                      "prompt_ms": statistics.median(times) * 1000, "total": history.total}))


def main() -> None:
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        for count in SIZES:
            ledger = Path(scratch) / f"ledger-{count}.jsonl"
            write_ledger(ledger, count)
            done = subprocess.run([sys.executable, __file__, "--measure", str(ledger)],
                                  capture_output=True, text=True, check=True)
            rows[count] = json.loads(done.stdout)
            assert rows[count]["total"] == count
    print(f"{'experiments':>12} {'peak RSS':>10} {'load':>9} {'prompt build':>13}")
    for count, row in rows.items():
        print(f"{count:>12,} {row['rss_mb']:>7.1f} MB {row['load_s']:>7.2f} s "
              f"{row['prompt_ms']:>10.2f} ms")
    growth = rows[SIZES[-1]]["rss_mb"] - rows[SIZES[0]]["rss_mb"]
    ratio = rows[SIZES[-1]]["prompt_ms"] / rows[SIZES[0]]["prompt_ms"]
    print(f"\nRSS growth 1k -> 100k: {growth:.1f} MB (target < 10 MB: "
          f"{'ok' if growth < 10 else 'MISS'})")
    print(f"prompt build 100k / 1k: {ratio:.2f}x; at 100k {rows[SIZES[-1]]['prompt_ms']:.2f} ms "
          f"(target < 20 ms: {'ok' if rows[SIZES[-1]]['prompt_ms'] < 20 else 'MISS'})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
    else:
        main()
