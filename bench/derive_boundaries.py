"""Derive the paired rule's keep boundaries (``compare.OBF_CONSTANTS``) by simulation.

The rule looks after every pair from the third to the N-th and keeps when the paired t
statistic reaches ``u_n``, where ``u_n`` is the t with the same one-sided tail probability
as the O'Brien-Fleming z boundary ``C_N · sqrt(N / n)`` (see autoresearch/compare.py). With
a known variance the classical C_N makes P(any keep | no effect) = 2.5 %; with the variance
estimated at every look the statistics are less correlated and that rate is higher (about
3.2 % at N = 8). So C_N is found for the t statistic itself: under no effect the t statistics
do not depend on the noise's size, so one set of standard normal paths serves every N.

For each path, a look's "nominal z" is ζ_n = Φ⁻¹(1 − P(T_{n−1} > t_n)); the path keeps
under C exactly when max_n ζ_n · sqrt(n / N) >= C, so C_N is the (1 − α) quantile of that
maximum over the paths. Looks with ζ_n < 1.8 cannot reach any C_N (the smallest, at N = 3,
is z_0.975 = 1.96) and are skipped.

    python bench/derive_boundaries.py [--paths 4000000] [--seed 20261202]

Deterministic for a given seed; about 5 minutes for the default 4 million paths. The printed
constants get a margin of 0.003 (about 2.5 times the simulation's standard error) and are
rounded up to 0.01: slightly stricter boundaries. Their false-keep rate on the same paths
is printed too.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from array import array
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoresearch.compare import ALPHA, FIRST_LOOK, MAX_REPEATS  # noqa: E402
from autoresearch.tdist import t_isf, t_sf  # noqa: E402

SCREEN_Z = 1.8  # below every C_N (the smallest is z_0.975 = 1.96): looks under it never keep
KEEP_FROM = 1.9  # maxima below this are only counted, never needed for a quantile
MARGIN = 0.003  # about 2.5 standard errors of a simulated C_N at 4 million paths


def maxima(paths: int, seed: int, longest: int) -> dict[int, array]:
    """For each N, the maxima max_n ζ_n sqrt(n / N) (n <= N) of the paths that reach KEEP_FROM."""
    normal = NormalDist()
    screen = {n: t_isf(normal.cdf(-SCREEN_Z), n - 1) for n in range(FIRST_LOOK, longest + 1)}
    found = {n: array("d") for n in range(FIRST_LOOK, longest + 1)}
    gauss = random.Random(seed).gauss
    for _ in range(paths):
        total = squares = 0.0
        top = -math.inf  # max of ζ_n sqrt(n) so far
        for n in range(1, longest + 1):
            x = gauss(0.0, 1.0)
            total += x
            squares += x * x
            if n < FIRST_LOOK:
                continue
            variance = (squares - total * total / n) / (n - 1)
            t = total / math.sqrt(variance * n)  # the mean over its standard error
            if t >= screen[n]:
                p = max(t_sf(t, n - 1), 1e-300)
                top = max(top, -normal.inv_cdf(p) * math.sqrt(n))
            if top / math.sqrt(n) >= KEEP_FROM:
                found[n].append(top / math.sqrt(n))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=4_000_000)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    started = time.monotonic()
    found = maxima(args.paths, args.seed, MAX_REPEATS)
    rank = round(ALPHA * args.paths)
    derived = {n: sorted(values, reverse=True)[rank - 1] for n, values in found.items()}
    rounded = {n: math.ceil(round((c + MARGIN) * 100, 9)) / 100 for n, c in derived.items()}
    print(f"# {args.paths} paths, seed {args.seed}, {time.monotonic() - started:.0f} s")
    print("OBF_CONSTANTS = (  # C_N for N = FIRST_LOOK, FIRST_LOOK + 1, ... MAX_REPEATS")
    values = [f"{rounded[n]:.2f}" for n in sorted(rounded)]
    for start in range(0, len(values), 12):
        print("    " + ", ".join(values[start:start + 12]) + ",")
    print(")")
    for n in sorted(rounded):
        kept = sum(1 for c in found[n] if c >= rounded[n])
        print(f"# N = {n:2d}: C_N = {derived[n]:.4f} -> {rounded[n]:.2f}, "
              f"false keeps on these paths {kept / args.paths:.5f}")


if __name__ == "__main__":
    main()
