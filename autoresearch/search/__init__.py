"""Search beyond greedy, as pure pieces the loop's coordinator holds (no I/O anywhere here).

- ``normalise``: a target's code with whitespace and comments ignored, its fingerprint, and
  the normalised change between two versions.
- ``novelty``: duplicates (not run) and the past experiments most similar to a candidate.
- ``directions``: past experiments grouped into the directions already tried.
- ``plateau``: when to ask for a different direction, and when to stop.
- ``nearmiss``: discarded candidates close to the best, to branch from or combine.
- ``hybrid``: which proposer (the model or the tuner) goes next under ``agent: X+tune``.
- ``tuning``: what the tuner learns from every measured tree and what the model is told.
- ``screening``: whether a cheap screened run earns the full run, and the time it saved.

docs/search.md describes each strategy; bench/bench_search.py measures them.
"""
