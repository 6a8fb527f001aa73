"""How often each keep rule keeps noise, and how often it keeps a real gain, on one fixture.

The fixture is tests/noisy.py: one measurement is the program's true value plus Gaussian
noise of σ (lower is better); a candidate is 0, 1 or 2 σ truly better than the best, or 2 σ
worse; in the last column each session of runs is also shifted by a drift of σ. Each cell
decides TRIALS candidates from a fixed seed, so the table is the same on every run and every
machine. Prints two Markdown tables (docs/measurement.md quotes them): the rates of each
rule, and the paired rule's boundaries at repeats 8.

    python bench/bench_compare.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from noisy import CALIBRATION_RUNS, Tally, paired_keeps, plain_keeps  # noqa: E402

from autoresearch.compare import boundaries  # noqa: E402

TRIALS = 4000
REPEATS = 8
EFFECTS = (0.0, 1.0, 2.0, -2.0)  # in σ; positive: the candidate is truly better

DRIFT = 1.0  # σ between the best's session and the candidate's, in the last column
RULES = {  # name -> (the function, its options)
    "plain, 1 run each, no noise floor": (plain_keeps, {}),
    f"plain, 1 run each, calibrated floor (`setup --calibrate {CALIBRATION_RUNS}`)":
        (plain_keeps, {"calibrated": True}),
    f"plain, `repeats: {REPEATS}` (medians), floor from the best's runs":
        (plain_keeps, {"repeats": REPEATS}),
    f"paired, `repeats: {REPEATS}`, worth = min_delta (0)": (paired_keeps, {"repeats": REPEATS}),
    f"paired, `repeats: {REPEATS}`, worth = calibrated floor":
        (paired_keeps, {"repeats": REPEATS, "worth_floor": True}),
}


def rates_table(trials: int = TRIALS) -> str:
    lines = ["| rule | kept, no effect (false keeps) | kept, 1σ better | kept, 2σ better "
             "| runs per candidate: no effect / 2σ better / 2σ worse "
             f"| false keeps with {DRIFT:g}σ drift |",
             "|---|---|---|---|---|---|"]
    for name, (run, options) in RULES.items():
        tallies: dict[float, Tally] = {effect: run(effect, trials, 1000 + i, **options)
                                       for i, effect in enumerate(EFFECTS)}
        drifting = run(0.0, trials, 2000, drift=DRIFT, **options)
        kept = [f"{tallies[effect].keep_rate:.1%}" for effect in EFFECTS[:3]]
        runs = " / ".join(f"{tallies[effect].runs_per_candidate:.1f}"
                          for effect in (0.0, 2.0, -2.0))
        lines.append(f"| {name} | {' | '.join(kept)} | {runs} | {drifting.keep_rate:.1%} |")
    return "\n".join(lines)


def boundaries_table(repeats: int = REPEATS) -> str:
    lines = ["| pairs | keep when t ≥ | nominal confidence of a keep | discard when t(worth) ≤ |",
             "|---|---|---|---|"]
    for look in boundaries(repeats):
        discard = "— (the last look: discard unless kept)" if look.pairs == repeats \
            else f"−{look.discard_t:.3f}"
        lines.append(f"| {look.pairs} | {look.keep_t:.3f} | {look.keep_confidence:.2%} "
                     f"| {discard} |")
    return "\n".join(lines)


def main() -> None:
    print(f"Keep rates on the noisy fixture, {TRIALS} candidates per cell:\n")
    print(rates_table())
    print(f"\nThe paired rule's boundaries at repeats {REPEATS}:\n")
    print(boundaries_table())


if __name__ == "__main__":
    main()
