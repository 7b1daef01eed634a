"""The experiment pages: every experiment with its status, and one experiment's live report
with a plot of its variants' primary metric and their confidence intervals."""

from __future__ import annotations

from infogap.server.core.domain import Estimate, Experiment, ExperimentReport, VariantResult
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.console.page import Page, Query, esc, link, number, table, when
from infogap.server.transport.http.console.plot import Interval, interval_plot

METRIC_NAMES = {
    "ctr": "Click-through rate",
    "conversion_rate": "Conversion rate",
    "revenue_per_user": "Revenue per user",
}


def experiments(core: InfoGap, query: Query) -> Page:
    """The ``/console/experiments`` page."""
    rows = [
        (
            link("/experiments/" + e.name, e.name),
            esc(e.catalog),
            esc(e.status.value),
            esc(", ".join(f"{v.name} {number(v.share, 3)}" for v in e.variants)),
            when(e.started_at),
            when(e.stopped_at),
            esc(e.description),
        )
        for e in core.experiments()
    ]
    headers = ("Experiment", "Catalog", "Status", "Variants", "Started", "Stopped", "About")
    return Page("Experiments", "<h1>Experiments</h1>" + table(headers, rows))


def experiment(core: InfoGap, query: Query, name: str) -> Page:
    """The ``/console/experiments/<name>`` page (NotFound for an unknown name: a 404)."""
    report = core.experiment_report(name)
    return Page(f"Experiment {name}", _heading(report.experiment) + _report(report))


def _heading(e: Experiment) -> str:
    status = e.status.value
    return (
        f"<h1>Experiment {esc(e.name)}</h1><p>Catalog <code>{esc(e.catalog)}</code>, "
        f"<strong>{esc(status)}</strong>; started {when(e.started_at)}, stopped "
        f"{when(e.stopped_at)}. {esc(e.description)}</p>"
    )


def _report(report: ExperimentReport) -> str:
    metric = report.primary_metric
    title = (
        f"{METRIC_NAMES.get(metric, metric)} by variant, {report.confidence_level:.0%} intervals"
    )
    plot = interval_plot(
        title, [_interval(v.variant, _estimate(v, metric)) for v in report.variants]
    )
    srm = (
        f'<p class="bad">Sample ratio mismatch (p = {number(report.sample_ratio_p_value, 3)}): '
        "the variants did not get their shares of users; do not trust the comparison.</p>"
        if report.sample_ratio_mismatch
        else ""
    )
    winner = f"Winner: <strong>{esc(report.winner)}</strong>. " if report.winner else ""
    return (
        f'<p class="card">{winner}{esc(report.conclusion)} <span class="muted">(report of '
        f"{when(report.generated_at)})</span></p>"
        + srm
        + f"<h2>{esc(title)}</h2>"
        + plot
        + "<h2>Variants</h2>"
        + _variants(report)
        + "<h2>Against the control</h2>"
        + _comparisons(report)
    )


def _estimate(result: VariantResult, metric: str) -> Estimate:
    estimates = {
        "ctr": result.ctr,
        "conversion_rate": result.conversion_rate,
        "revenue_per_user": result.revenue_per_user,
    }
    return estimates.get(metric, result.ctr)


def _interval(label: str, estimate: Estimate) -> Interval:
    return Interval(label, estimate.value, estimate.low, estimate.high)


def _variants(report: ExperimentReport) -> str:
    def shown(e: Estimate) -> str:
        return f"{number(e.value)} [{number(e.low)}, {number(e.high)}]"

    rows = [
        (
            esc(v.variant),
            number(v.share, 3),
            f"{v.users:,}",
            f"{v.recommendations:,}",
            f"{v.impressions:,}",
            f"{v.clicks:,}",
            f"{v.conversions:,}",
            number(v.revenue, 6),
            shown(v.ctr),
            shown(v.conversion_rate),
            shown(v.revenue_per_user),
        )
        for v in report.variants
    ]
    headers = (
        "Variant",
        "Share",
        "Users",
        "Lists",
        "Impressions",
        "Clicks",
        "Conversions",
        "Revenue",
        "CTR",
        "Conversion rate",
        "Revenue per user",
    )
    return table(headers, rows, numeric=tuple(range(1, 8)))


def _comparisons(report: ExperimentReport) -> str:
    rows = [
        (
            esc(v.variant),
            esc(c.metric),
            f"{c.relative_lift:+.1%}",
            f"[{c.lift_low:+.1%}, {c.lift_high:+.1%}]",
            number(c.p_value, 3),
            '<span class="good">yes</span>' if c.significant else "no",
        )
        for v in report.variants
        for c in v.comparisons
    ]
    headers = ("Variant", "Metric", "Lift", "Interval", "p", "Significant")
    return table(headers, rows, numeric=(2, 4))
