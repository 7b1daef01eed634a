"""The statistics of experiment reports against hand-computed cases, and their calibration:
A/A tests are significant about as often as the level says, real differences are found."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infogap.server.core.domain import Estimate
from infogap.server.core.experiments.stats import (
    compare,
    mean_estimate,
    ratio_estimate,
    sample_ratio_p_value,
    z_value,
)

Z_95 = z_value(0.05)


def test_mean_estimate_by_hand():
    estimate = mean_estimate(np.array([1.0, 0.0, 1.0, 1.0]), alpha=0.05)
    # mean 0.75; sample sd 0.5; standard error 0.5 / sqrt(4)
    assert estimate.value == 0.75
    assert estimate.standard_error == pytest.approx(0.25)
    assert (estimate.low, estimate.high) == pytest.approx((0.75 - Z_95 * 0.25, 0.75 + Z_95 * 0.25))


def test_ratio_estimate_by_hand():
    # clicks (1, 2) over impressions (2, 2): ratio 3/4; var(clicks) 0.5, var(impressions) 0,
    # so the delta-method variance is 0.5 / (n * mean_impressions^2) = 0.5 / 8.
    estimate = ratio_estimate(np.array([1.0, 2.0]), np.array([2.0, 2.0]), alpha=0.05)
    assert estimate.value == 0.75
    assert estimate.standard_error == pytest.approx(math.sqrt(0.5 / 8))


def test_ratio_standard_error_matches_a_bootstrap_over_users():
    rng = np.random.default_rng(0)
    impressions = rng.integers(1, 30, size=2000).astype(float)
    rates = rng.beta(2, 8, size=2000)  # users differ: clicks are correlated within a user
    clicks = rng.binomial(impressions.astype(int), rates).astype(float)
    estimate = ratio_estimate(clicks, impressions, alpha=0.05)
    resampled = [
        clicks[chosen].sum() / impressions[chosen].sum()
        for chosen in (rng.integers(0, 2000, size=2000) for _ in range(1000))
    ]
    assert estimate.standard_error == pytest.approx(np.std(resampled), rel=0.1)
    # Treating impressions as independent would understate it.
    naive = math.sqrt(estimate.value * (1 - estimate.value) / impressions.sum())
    assert estimate.standard_error > 1.3 * naive


def test_edge_cases_are_undefined_not_errors():
    assert math.isnan(ratio_estimate(np.array([]), np.array([]), alpha=0.05).value)
    assert math.isnan(ratio_estimate(np.array([0.0]), np.array([0.0]), alpha=0.05).value)
    assert math.isnan(mean_estimate(np.array([]), alpha=0.05).value)
    single = mean_estimate(np.array([3.0]), alpha=0.05)
    assert single.value == 3.0 and math.isnan(single.standard_error)
    nothing = compare("ctr", Estimate(0.0, 0.0, 0.0, 0.0), Estimate(0.0, 0.0, 0.0, 0.0), 0.05)
    assert math.isnan(nothing.relative_lift) and not nothing.significant
    assert math.isnan(sample_ratio_p_value([0, 0], [0.5, 0.5]))


def test_compare_by_hand():
    control, variant = Estimate(0.10, 0.01, 0, 0), Estimate(0.12, 0.01, 0, 0)
    comparison = compare("ctr", control, variant, alpha=0.05)
    # z = 0.02 / sqrt(2) / 0.01 = 1.414: p = 0.157
    assert comparison.p_value == pytest.approx(0.1573, abs=1e-4)
    assert not comparison.significant
    assert comparison.relative_lift == pytest.approx(0.2)
    # Fieller: the ratios q with (0.12 - 0.1 q)^2 <= z^2 (0.01^2 + q^2 0.01^2), less 1.
    a = 0.1**2 - Z_95**2 * 0.01**2
    root = Z_95 * math.sqrt(a * 0.01**2 + 0.12**2 * 0.01**2)
    assert comparison.lift_low == pytest.approx((0.012 - root) / a - 1)
    assert comparison.lift_high == pytest.approx((0.012 + root) / a - 1)
    assert comparison.lift_low < 0 < comparison.lift_high  # not significant: 0 is inside
    clear = compare("ctr", control, Estimate(0.15, 0.01, 0, 0), alpha=0.05)
    assert clear.significant and clear.p_value < 0.001


def test_sample_ratio_check():
    assert sample_ratio_p_value([500, 500], [0.5, 0.5]) == pytest.approx(1.0)
    assert sample_ratio_p_value([300, 500], [0.3, 0.5]) == pytest.approx(1.0)  # 20% outside
    # chi-square 100^2/500 * 2 = 40 on one degree of freedom
    assert sample_ratio_p_value([600, 400], [0.5, 0.5]) == pytest.approx(2.54e-10, rel=0.01)


def a_b_outcomes(rng, users: int, rate_a: float, rate_b: float):
    impressions = rng.integers(5, 15, size=(2, users)).astype(float)
    user_rates = np.vstack([rng.beta(20 * r, 20 * (1 - r), size=users) for r in (rate_a, rate_b)])
    clicks = rng.binomial(impressions.astype(int), user_rates).astype(float)
    return [ratio_estimate(clicks[v], impressions[v], alpha=0.05) for v in (0, 1)]


def test_a_a_tests_are_significant_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    significant = [
        compare("ctr", *a_b_outcomes(rng, 500, 0.1, 0.1), alpha=0.05).significant
        for _ in range(600)
    ]
    assert 0.03 <= np.mean(significant) <= 0.075


def test_a_ten_percent_lift_is_found_with_enough_users():
    rng = np.random.default_rng(2)
    found = [
        compare("ctr", *a_b_outcomes(rng, 5000, 0.10, 0.11), alpha=0.05).significant
        for _ in range(100)
    ]
    assert np.mean(found) > 0.8
