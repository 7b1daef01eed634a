"""An experiment's report: per-variant exposure and attributed feedback from the store's
per-user outcomes, each variant against the control (``stats``), and the verdict.

The significance level is split over the variants compared with the control (Bonferroni), and
every interval in the report is taken at that same split level: a lift's interval excludes 0
exactly when its comparison is significant, so the figures and the verdict always agree.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from infogap.server.config import ExperimentSettings
from infogap.server.core.domain import (
    Comparison,
    Experiment,
    ExperimentReport,
    VariantResult,
    utc_now,
)
from infogap.server.core.experiments.stats import (
    compare,
    mean_estimate,
    ratio_estimate,
    sample_ratio_p_value,
)

METRICS = ("ctr", "conversion_rate", "revenue_per_user")
METRIC_LABELS = {
    "ctr": "CTR",
    "conversion_rate": "conversion rate",
    "revenue_per_user": "revenue per user",
}
OUTCOMES = ("lists", "impressions", "clicks", "conversions", "revenue")


def comparison_alpha(significance_level: float, variants: int) -> float:
    """The level each comparison with the control is decided at (and every interval taken
    at): the significance level split over the ``variants - 1`` comparisons."""
    return significance_level / max(variants - 1, 1)


def build_report(
    experiment: Experiment, outcomes: pa.Table, settings: ExperimentSettings
) -> ExperimentReport:
    """The report of ``experiment`` from ``outcomes``, one row per (variant, user) with the
    columns of ``Store.experiment_outcomes``."""
    alpha = comparison_alpha(settings.significance_level, len(experiment.variants))
    results: list[VariantResult] = []
    for variant in experiment.variants:
        rows = outcomes.filter(pc.equal(outcomes.column("variant"), variant.name))
        column = {name: rows.column(name).to_numpy().astype(float) for name in OUTCOMES}
        estimates = {
            "ctr": ratio_estimate(column["clicks"], column["impressions"], alpha=alpha),
            "conversion_rate": mean_estimate(
                (column["conversions"] > 0).astype(float), alpha=alpha
            ),
            "revenue_per_user": mean_estimate(column["revenue"], alpha=alpha),
        }
        comparisons: tuple[Comparison, ...] = ()
        if results:
            control = results[0]
            comparisons = tuple(
                compare(metric, getattr(control, metric), estimates[metric], alpha)
                for metric in METRICS
            )
        results.append(
            VariantResult(
                variant=variant.name,
                share=variant.share,
                users=len(rows),
                recommendations=int(column["lists"].sum()),
                impressions=int(column["impressions"].sum()),
                clicks=int(column["clicks"].sum()),
                conversions=int(column["conversions"].sum()),
                revenue=float(column["revenue"].sum()),
                comparisons=comparisons,
                **estimates,
            )
        )
    srm_p = sample_ratio_p_value([r.users for r in results], [v.share for v in experiment.variants])
    mismatch = not np.isnan(srm_p) and srm_p < settings.sample_ratio_p_value
    winner, conclusion = _verdict(results, settings.primary_metric, mismatch, srm_p, 1 - alpha)
    return ExperimentReport(
        experiment=experiment,
        variants=tuple(results),
        primary_metric=settings.primary_metric,
        significance_level=settings.significance_level,
        confidence_level=1 - alpha,
        sample_ratio_p_value=srm_p,
        sample_ratio_mismatch=mismatch,
        winner=winner,
        conclusion=conclusion,
        generated_at=utc_now(),
    )


def level_text(confidence_level: float) -> str:
    """A confidence level as people write it: "95%", "97.5%", "98.33%"."""
    return f"{100 * confidence_level:.4g}%"


def _verdict(
    results: list[VariantResult], metric: str, mismatch: bool, srm_p: float, level: float
) -> tuple[str, str]:
    """The winner on the primary metric (or "") and a sentence saying why."""
    label = METRIC_LABELS[metric]
    if not results or results[0].users == 0:
        return "", "No traffic yet: nothing to compare."
    if mismatch:
        return "", (
            f"Sample ratio mismatch (p = {srm_p:.2g}): users per variant do not match the "
            "configured shares, so no winner is called. Find the cause (assignment, logging, "
            "filtering) before trusting any figure."
        )
    control = results[0]
    compared = [(r, next(c for c in r.comparisons if c.metric == metric)) for r in results[1:]]
    better = [(r, c) for r, c in compared if c.significant and c.relative_lift > 0]
    if better:
        winner, comparison = max(better, key=lambda pair: pair[1].relative_lift)
        return winner.variant, (
            f"{winner.variant} wins on {label}: {comparison.relative_lift:+.1%} against "
            f"{control.variant} ({level_text(level)} CI {comparison.lift_low:+.1%} to "
            f"{comparison.lift_high:+.1%}, p = {comparison.p_value:.2g})."
        )
    if compared and all(c.significant and c.relative_lift < 0 for _, c in compared):
        return control.variant, (
            f"{control.variant} (the control) wins on {label}: every other variant is "
            "significantly worse."
        )
    smallest = min(
        (c.p_value for _, c in compared if not math.isnan(c.p_value)), default=float("nan")
    )
    return "", (
        f"No significant difference in {label} between the variants and {control.variant} "
        f"(smallest p = {smallest:.2g}); keep the control or collect more traffic."
    )
