"""The statistics of experiment reports, on per-user outcomes.

Users, not impressions, are the unit of randomisation, so every variance is taken over users:
CTR (clicks / impressions, summed over users) is a ratio of two per-user sums whose standard
error comes from the delta method (Deng, Knoblich and Lu, "Applying the Delta Method in Metric
Analytics", KDD 2018); conversion rate and revenue per user are per-user means. Variants are
compared with the control by a two-sided z-test (Welch's unpooled variance; samples here are
hundreds of users or more), the significance level split over the variants compared
(Bonferroni). Every interval is taken at that split level, so an interval and the test it sits
beside never tell different stories. The sample-ratio check is a chi-square goodness-of-fit test of users per variant
against the configured shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from infogap.server.core.domain import Comparison, Estimate

NAN = float("nan")
INF = float("inf")


def z_value(alpha: float) -> float:
    """The two-sided normal quantile at level 1 - alpha (1.96 for alpha = 0.05)."""
    return float(stats.norm.isf(alpha / 2))


def _estimate(value: float, standard_error: float, alpha: float) -> Estimate:
    margin = z_value(alpha) * standard_error
    return Estimate(value, standard_error, value - margin, value + margin)


def mean_estimate(values: np.ndarray, *, alpha: float) -> Estimate:
    """The mean of per-user values, its standard error and its interval at level 1 - alpha."""
    n = len(values)
    if n == 0:
        return Estimate(NAN, NAN, NAN, NAN)
    mean = float(np.mean(values))
    standard_error = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else NAN
    return _estimate(mean, standard_error, alpha)


def ratio_estimate(numerators: np.ndarray, denominators: np.ndarray, *, alpha: float) -> Estimate:
    """sum(numerators) / sum(denominators), with the delta-method standard error of a ratio
    of per-user sums and its interval at level 1 - alpha."""
    n = len(numerators)
    total = float(np.sum(denominators))
    if n == 0 or total == 0:
        return Estimate(NAN, NAN, NAN, NAN)
    ratio = float(np.sum(numerators)) / total
    if n < 2:
        return _estimate(ratio, NAN, alpha)
    mean_denominator = total / n
    covariance = np.cov(numerators, denominators, ddof=1)
    variance = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / (
        n * mean_denominator**2
    )
    return _estimate(ratio, math.sqrt(max(float(variance), 0.0)), alpha)


def compare(metric: str, control: Estimate, variant: Estimate, alpha: float) -> Comparison:
    """``variant`` against ``control``: the p-value of a two-sided z-test of "no difference",
    significant below ``alpha``, and the relative lift with its interval at level 1 - alpha
    (see ``lift_interval``), which excludes 0 exactly when the test is significant."""
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
        low, high = lift_interval(control, variant, z_value(alpha))
    significant = not math.isnan(p_value) and p_value < alpha
    return Comparison(metric, lift, low, high, p_value, significant)


def lift_interval(control: Estimate, variant: Estimate, z: float) -> tuple[float, float]:
    """Fieller's interval of variant / control - 1: every lift r that the same z-test keeps
    when it tests "variant = (1 + r) * control" instead of "variant = control".

    At r = 0 that is the comparison's own test, so the interval excludes 0 exactly when the
    difference is significant (the delta-method interval of the ratio does not have that
    property near the boundary). When the control is itself within its interval of 0, the
    ratio is unbounded: the interval is then the ray holding the estimate, or the whole line;
    for values that are not negative (every metric here) it still excludes 0 exactly when the
    test is significant. NaN where a standard error is undefined.
    """
    c, v = control.value, variant.value
    var_c, var_v = control.standard_error**2, variant.standard_error**2
    # The ratios q with (v - q c)^2 <= z^2 (var_v + q^2 var_c): a q^2 - 2 v c q + rest <= 0,
    # a quadratic whose quarter discriminant is z^2 (a var_v + v^2 var_c).
    a = c * c - z * z * var_c
    quarter_discriminant = z * z * (a * var_v + v * v * var_c)
    if math.isnan(a) or math.isnan(quarter_discriminant):
        return NAN, NAN
    if a > 0:
        root = math.sqrt(quarter_discriminant)
        return (v * c - root) / a - 1, (v * c + root) / a - 1
    if a == 0 or quarter_discriminant <= 0:
        return -INF, INF
    root = math.sqrt(quarter_discriminant)
    low, high = sorted(((v * c - root) / a, (v * c + root) / a))
    # The set is two rays, (-inf, low] and [high, inf); the estimate v / c lies in one.
    return (high - 1, INF) if v / c >= (low + high) / 2 else (-INF, low - 1)


def sample_ratio_p_value(users: Sequence[int], shares: Sequence[float]) -> float:
    """p-value of the users per variant under the configured shares; NaN without users."""
    observed = np.asarray(users, dtype=float)
    total = observed.sum()
    if total == 0:
        return NAN
    expected = np.asarray(shares, dtype=float)
    expected = total * expected / expected.sum()
    return float(stats.chisquare(observed, expected).pvalue)
