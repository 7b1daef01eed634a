"""The statistics of experiment reports, on per-user outcomes.

Users, not impressions, are the unit of randomisation, so every variance is taken over users:
CTR (clicks / impressions, summed over users) is a ratio of two per-user sums whose standard
error comes from the delta method (Deng, Knoblich and Lu, "Applying the Delta Method in Metric
Analytics", KDD 2018); conversion rate and revenue per user are per-user means. Variants are
compared with the control by a two-sided z-test (Welch's unpooled variance; samples here are
hundreds of users or more), the significance level split over the variants compared
(Bonferroni). The sample-ratio check is a chi-square goodness-of-fit test of users per variant
against the configured shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from infogap.server.core.domain import Comparison, Estimate

Z_95 = float(stats.norm.ppf(0.975))
NAN = float("nan")


def _estimate(value: float, standard_error: float) -> Estimate:
    margin = Z_95 * standard_error
    return Estimate(value, standard_error, value - margin, value + margin)


def mean_estimate(values: np.ndarray) -> Estimate:
    """The mean of per-user values and its standard error."""
    n = len(values)
    if n == 0:
        return Estimate(NAN, NAN, NAN, NAN)
    mean = float(np.mean(values))
    standard_error = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else NAN
    return _estimate(mean, standard_error)


def ratio_estimate(numerators: np.ndarray, denominators: np.ndarray) -> Estimate:
    """sum(numerators) / sum(denominators), with the delta-method standard error of a ratio
    of per-user sums."""
    n = len(numerators)
    total = float(np.sum(denominators))
    if n == 0 or total == 0:
        return Estimate(NAN, NAN, NAN, NAN)
    ratio = float(np.sum(numerators)) / total
    if n < 2:
        return _estimate(ratio, NAN)
    mean_denominator = total / n
    covariance = np.cov(numerators, denominators, ddof=1)
    variance = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / (
        n * mean_denominator**2
    )
    return _estimate(ratio, math.sqrt(max(float(variance), 0.0)))


def compare(metric: str, control: Estimate, variant: Estimate, alpha: float) -> Comparison:
    """``variant`` against ``control``: relative lift with its 95% interval (delta method on
    the ratio of two independent estimates) and the p-value of a two-sided z-test."""
    difference = variant.value - control.value
    standard_error = math.hypot(variant.standard_error, control.standard_error)
    if standard_error > 0:
        p_value = float(2 * stats.norm.sf(abs(difference) / standard_error))
    else:  # both exact: different or not, with certainty (and NaN when undefined)
        p_value = NAN if math.isnan(difference) else float(difference == 0)
    if control.value == 0 or math.isnan(control.value):
        lift = low = high = NAN
    else:
        lift = difference / control.value
        lift_error = math.sqrt(
            variant.standard_error**2 / control.value**2
            + variant.value**2 * control.standard_error**2 / control.value**4
        )
        low, high = lift - Z_95 * lift_error, lift + Z_95 * lift_error
    significant = not math.isnan(p_value) and p_value < alpha
    return Comparison(metric, lift, low, high, p_value, significant)


def sample_ratio_p_value(users: Sequence[int], shares: Sequence[float]) -> float:
    """p-value of the users per variant under the configured shares; NaN without users."""
    observed = np.asarray(users, dtype=float)
    total = observed.sum()
    if total == 0:
        return NAN
    expected = np.asarray(shares, dtype=float)
    expected = total * expected / expected.sum()
    return float(stats.chisquare(observed, expected).pvalue)
