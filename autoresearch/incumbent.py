"""The re-measured incumbent (``remeasure_every: N``, issue 15 item 2).

Every N experiments the coordinator runs the current best again and pools the new samples
with the ones it already has. The best's value becomes the aggregate of the pool, so a best
that looked good on one lucky run drifts back to its true value and loses the lead it never
had; candidates are judged against the pooled value from then on.

The noise floor is recomputed from the pool (``decide.noise_floor``: 2 × MAD, from 3 samples
up) and never set below a calibrated floor: re-measuring may reveal noise that the
calibration missed, but a few samples that happen to agree must not hide noise it saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from autoresearch import decide


def remeasure_due(experiments_done: int, every: int) -> bool:
    """True after every ``every``-th experiment of the session; ``every`` 0 means never."""
    return every > 0 and experiments_done > 0 and experiments_done % every == 0


def pool(best: decide.Best, new_samples: Sequence[float], how: str) -> decide.Best:
    """``best`` with ``new_samples`` added: its value the ``how`` aggregate of all its samples
    (its logged value alone when it has no samples), its noise floor recomputed."""
    new = tuple(new_samples)
    if not new or not all(math.isfinite(x) for x in new):
        raise ValueError("re-measuring needs at least one finite sample (a crash is none)")
    pooled = (best.samples or (best.value,)) + new
    floors = [f for f in (best.noise_floor, decide.noise_floor(pooled)) if f is not None]
    return replace(best, value=decide.aggregate(pooled, how), samples=pooled,
                   noise_floor=max(floors) if floors else None)
