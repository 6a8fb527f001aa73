"""tdist: Student's t tail against closed forms (df 1, 2) and published table values."""

from __future__ import annotations

import math

import pytest

from autoresearch.tdist import incomplete_beta, t_isf, t_sf


@pytest.mark.parametrize("t", [-3.0, -0.5, 0.0, 0.3, 1.5, 12.7, 400.0])
def test_one_degree_of_freedom_is_the_cauchy_tail(t):
    assert t_sf(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("t", [-2.0, 0.0, 0.7, 4.3, 50.0])
def test_two_degrees_of_freedom_have_a_closed_form(t):
    assert t_sf(t, 2) == pytest.approx(0.5 - t / (2 * math.sqrt(2 + t * t)), rel=1e-12,
                                       abs=1e-15)


@pytest.mark.parametrize("p, df, table", [
    (0.025, 1, 12.7062), (0.025, 2, 4.3027), (0.025, 3, 3.1824), (0.025, 7, 2.3646),
    (0.025, 30, 2.0423), (0.005, 5, 4.0321), (0.05, 10, 1.8125), (0.001, 20, 3.5518),
])
def test_quantiles_match_the_printed_tables(p, df, table):
    assert t_isf(p, df) == pytest.approx(table, abs=5e-5)
    assert t_sf(t_isf(p, df), df) == pytest.approx(p, rel=1e-9)


def test_the_tail_is_symmetric_and_tends_to_the_normal():
    assert t_sf(-1.3, 6) == pytest.approx(1 - t_sf(1.3, 6), rel=1e-12)
    assert t_isf(0.9, 6) == pytest.approx(-t_isf(0.1, 6), rel=1e-12)
    assert t_sf(1.959964, 1e7) == pytest.approx(0.025, rel=1e-5)
    assert (t_sf(math.inf, 3), t_sf(-math.inf, 3)) == (0.0, 1.0)


def test_incomplete_beta_edges_and_a_known_value():
    assert (incomplete_beta(2, 3, 0.0), incomplete_beta(2, 3, 1.0)) == (0.0, 1.0)
    # I_x(1, b) = 1 - (1 - x)^b
    assert incomplete_beta(1, 4, 0.3) == pytest.approx(1 - 0.7 ** 4, rel=1e-12)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, math.nan])
def test_a_probability_outside_zero_one_is_refused(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        t_isf(p, 3)


def test_degrees_of_freedom_must_be_positive():
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_sf(1.0, 0)
