"""holdout.holdout_ok: pass within the tolerance, fail beyond it; the reason shows no number."""

from __future__ import annotations

import math
import re

import pytest

from autoresearch.holdout import holdout_ok


@pytest.mark.parametrize("candidate, best, direction, tolerance, expected", [
    (0.95, 1.00, "lower_is_better", 0.0, (True, "holdout passed")),
    (1.00, 1.00, "lower_is_better", 0.0, (True, "holdout passed")),
    (1.01, 1.00, "lower_is_better", 0.0, (False, "holdout regressed")),
    (1.01, 1.00, "lower_is_better", 0.02, (True, "holdout passed")),
    (1.03, 1.00, "lower_is_better", 0.02, (False, "holdout regressed")),
    (0.97, 1.00, "higher_is_better", 0.02, (False, "holdout regressed")),
    (0.99, 1.00, "higher_is_better", 0.02, (True, "holdout passed")),
    (1.50, 1.00, "higher_is_better", 0.0, (True, "holdout passed")),
    (0.70, None, "lower_is_better", 0.0, (True, "holdout recorded")),
    (None, 1.00, "lower_is_better", 0.0, (False, "holdout failed")),
    (math.nan, 1.00, "lower_is_better", 0.0, (False, "holdout failed")),
    (None, None, "higher_is_better", 0.0, (False, "holdout failed")),
], ids=["better", "equal", "worse", "worse-within-tolerance", "worse-beyond-tolerance",
        "higher-worse", "higher-within", "higher-better", "first", "crashed", "nan",
        "crashed-first"])
def test_the_holdout_verdict(candidate, best, direction, tolerance, expected):
    assert holdout_ok(candidate, best, direction=direction, tolerance=tolerance) == expected


def test_the_reason_never_carries_a_number():
    for candidate in (None, 0.5, 1.0, 123.456, 1e-9):
        for best in (None, 1.0, 0.25):
            _, reason = holdout_ok(candidate, best, direction="lower_is_better", tolerance=0.01)
            assert not re.search(r"\d", reason), reason


@pytest.mark.parametrize("tolerance", [-0.1, math.inf, math.nan])
def test_a_bad_tolerance_is_a_programming_error(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        holdout_ok(1.0, 1.0, direction="lower_is_better", tolerance=tolerance)


def test_an_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="direction"):
        holdout_ok(1.0, 1.0, direction="sideways", tolerance=0.0)
