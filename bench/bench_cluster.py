"""Throughput of two experiments in flight: the local runner against runner: ray.

    python bench/bench_cluster.py                  # about a minute on 2 cores
    python bench/bench_cluster.py --experiments 20 --sleep 5

A local Ray head is started for the run (as the tests start it) and stopped after. The same
trivial experiment (sleep ``--sleep`` seconds, print ``score: N``, write ``out/metric.json``
that comes back as a fetched file) runs ``--experiments`` times, two at a time, through
each runner's ``run`` (what the engine calls for each experiment). Printed: experiments per
minute for each runner, and the ratio ray / local. The difference is the Ray runner's cost
per experiment: the upload, the job's supervisor, polling for its end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from cluster_fixtures import start_ray  # noqa: E402

from autoresearch.cluster import LocalRunner, RayRunner  # noqa: E402

EXPERIMENT = ("sleep {sleep}; mkdir -p out; echo '{{\"score\": {n}}}' > out/metric.json; "
              "echo score: {n}")
SLOTS = 2


def throughput(runner, work: Path, experiments: int, sleep: float) -> float:
    """Experiments per minute with two in flight, each in a tree of its own."""
    def one(n: int) -> None:
        tree = work / f"tree-{n}"
        tree.mkdir(parents=True)
        (tree / "train.py").write_text("print('training')\n")
        result = runner.run(EXPERIMENT.format(sleep=sleep, n=n), cwd=tree,
                            log_path=work / f"run-{n}.log", timeout=300, jobs_dir=work / "jobs",
                            fetch=["out/metric.json"])
        metric = (tree / "out" / "metric.json").read_text()
        if result.exit_code != 0 or f'"score": {n}' not in metric:
            raise SystemExit(f"experiment {n} failed: {result}")

    start = time.monotonic()
    with ThreadPoolExecutor(SLOTS) as pool:
        list(pool.map(one, range(experiments)))
    return experiments / (time.monotonic() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds per experiment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        work = Path(scratch)
        local = throughput(LocalRunner(), work / "local", args.experiments, args.sleep)
        print(f"local: {local:.1f} experiments/min ({SLOTS} in flight, {args.sleep:g} s each)")
        cluster = start_ray()
        try:
            runner = RayRunner(cluster.address)
            runner.client()
            throughput(runner, work / "warm-up", SLOTS, args.sleep)  # Ray's first workers
            ray = throughput(runner, work / "ray", args.experiments, args.sleep)
        finally:
            cluster.stop()
        print(f"ray:   {ray:.1f} experiments/min ({SLOTS} in flight, {args.sleep:g} s each)")
        print(f"ratio ray/local: {ray / local:.2f}")


if __name__ == "__main__":
    main()
