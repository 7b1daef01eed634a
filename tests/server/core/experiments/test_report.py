"""The report at the level its test uses: intervals at the Bonferroni-split level, a lift's
interval excluding 0 exactly when its comparison is significant, and the level said."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from infogap.server.config import ExperimentSettings
from infogap.server.core.domain import Estimate, Experiment, Variant
from infogap.server.core.experiments.report import (
    METRICS,
    build_report,
    comparison_alpha,
    level_text,
)
from infogap.server.core.experiments.stats import compare, ratio_estimate, z_value


def outcomes(rng: np.random.Generator, rates: list[float], users: int) -> pa.Table:
    """Per-(variant, user) outcomes as the store returns them, variant i clicking at rates[i]."""
    names = ("variant", "lists", "impressions", "clicks", "conversions", "revenue")
    columns: dict[str, list] = {name: [] for name in names}
    for index, rate in enumerate(rates):
        impressions = rng.integers(5, 15, size=users)
        clicks = rng.binomial(impressions, rng.beta(20 * rate, 20 * (1 - rate), size=users))
        conversions = rng.binomial(1, rate, size=users)
        columns["variant"] += [f"v{index}"] * users
        columns["lists"] += [1] * users
        columns["impressions"] += impressions.tolist()
        columns["clicks"] += clicks.tolist()
        columns["conversions"] += conversions.tolist()
        columns["revenue"] += (conversions * rng.exponential(20, size=users)).tolist()
    return pa.table(columns)


def experiment(variants: int) -> Experiment:
    share = 1 / variants
    return Experiment("ab", "default", tuple(Variant(f"v{i}", share) for i in range(variants)))


def excludes_zero(low: float, high: float) -> bool:
    return low > 0 or high < 0


def test_every_interval_is_at_the_split_level_and_the_report_says_which():
    settings = ExperimentSettings(significance_level=0.05)
    report = build_report(
        experiment(3), outcomes(np.random.default_rng(3), [0.1] * 3, 400), settings
    )
    assert comparison_alpha(0.05, 3) == 0.025
    assert report.significance_level == 0.05
    assert report.confidence_level == pytest.approx(0.975)
    z = z_value(0.025)
    assert z == pytest.approx(2.2414, abs=1e-4)
    for variant in report.variants:
        for metric in METRICS:
            estimate = getattr(variant, metric)
            assert estimate.high - estimate.low == pytest.approx(2 * z * estimate.standard_error)
        for comparison in variant.comparisons:
            assert comparison.significant == (comparison.p_value < 0.025)
            assert (
                excludes_zero(comparison.lift_low, comparison.lift_high) == comparison.significant
            )
    assert level_text(report.confidence_level) == "97.5%"
    two = build_report(experiment(2), outcomes(np.random.default_rng(3), [0.1] * 2, 400), settings)
    assert two.confidence_level == pytest.approx(0.95)


def test_the_winning_sentence_gives_the_interval_at_the_level_used():
    settings = ExperimentSettings(significance_level=0.05)
    data = outcomes(np.random.default_rng(4), [0.10, 0.10, 0.14], 3000)
    report = build_report(experiment(3), data, settings)
    assert report.winner == "v2"
    comparison = report.variants[2].comparisons[0]
    assert report.conclusion.startswith(
        f"v2 wins on CTR: {comparison.relative_lift:+.1%} against v0 (97.5% CI "
        f"{comparison.lift_low:+.1%} to {comparison.lift_high:+.1%}"
    )


@pytest.mark.parametrize("treatments", [1, 2, 4])
def test_a_lift_interval_excludes_zero_exactly_when_the_test_is_significant(treatments):
    """Over many simulated comparisons, small and large, near and far from the boundary:
    the interval and the test at the split level never disagree."""
    rng = np.random.default_rng(treatments)
    alpha = comparison_alpha(0.05, treatments + 1)
    z = z_value(alpha)
    significant = unbounded = 0
    for _ in range(2000):
        users = int(rng.choice([3, 10, 50, 500]))
        control_rate = rng.uniform(0.01, 0.3)
        lift = rng.choice([0.0, rng.normal(0, 0.3)])
        impressions = rng.integers(1, 20, size=(2, users)).astype(float)
        rates = np.clip([control_rate, control_rate * (1 + lift)], 0, 1)
        clicks = np.vstack([rng.binomial(impressions[i].astype(int), rates[i]) for i in (0, 1)])
        control, variant = (ratio_estimate(clicks[i], impressions[i], alpha=alpha) for i in (0, 1))
        comparison = compare("ctr", control, variant, alpha)
        if math.isnan(comparison.lift_low):
            continue
        assert comparison.significant == (comparison.p_value < alpha)
        assert excludes_zero(comparison.lift_low, comparison.lift_high) == comparison.significant
        assert comparison.lift_low <= comparison.relative_lift <= comparison.lift_high
        significant += comparison.significant
        unbounded += math.isinf(comparison.lift_low) or math.isinf(comparison.lift_high)
        # At a bounded interval's ends the test is exactly at its threshold.
        if not math.isinf(comparison.lift_low):
            ratio = 1 + comparison.lift_low
            error = math.hypot(variant.standard_error, ratio * control.standard_error)
            assert abs(variant.value - ratio * control.value) == pytest.approx(z * error)
    assert significant > 200 and unbounded > 20  # both sides, and the unbounded case, seen


def test_where_the_delta_method_interval_would_disagree_fiellers_does_not():
    """The variant well above the control: significant (z = 0.06 / 0.0283 = 2.12), while the
    delta-method interval of the ratio (z = 0.06 / 0.0377 = 1.59) would still hold 0."""
    control, variant = Estimate(0.10, 0.02, 0, 0), Estimate(0.16, 0.02, 0, 0)
    comparison = compare("ctr", control, variant, alpha=0.05)
    assert comparison.significant
    delta_error = math.sqrt(0.02**2 / 0.1**2 + 0.16**2 * 0.02**2 / 0.1**4)
    assert comparison.relative_lift - z_value(0.05) * delta_error < 0
    assert comparison.lift_low > 0
