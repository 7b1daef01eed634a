"""An experiment's report as a self-contained HTML page (tables, and a PNG plot embedded as
base64), from the ``GetExperimentReport`` response."""

from __future__ import annotations

import html
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from infogap.server.core.domain import ExperimentStatus
from infogap.server.core.experiments.report import level_text
from infogap.server.evaluation.report import STYLE, _png
from infogap.server.transport.convert import experiment_status
from infogap.v1.admin_service_pb2 import (
    Experiment,
    GetExperimentReportResponse,
    MetricEstimate,
    VariantReport,
)

# metric field -> (label, axis label, format of a value)
METRICS = {
    "ctr": ("CTR", "clicks per impression", "{:.2%}"),
    "conversion_rate": ("Conversion rate", "share of users converting", "{:.2%}"),
    "revenue_per_user": ("Revenue per user", "attributed revenue per user", "{:,.2f}"),
}


def _estimate(value: MetricEstimate, form: str) -> str:
    if math.isnan(value.value):
        return "n/a"
    interval = (
        ""
        if math.isnan(value.ci_low)
        else f"<br><small>[{form.format(value.ci_low)}, {form.format(value.ci_high)}]</small>"
    )
    return form.format(value.value) + interval


def _comparison(variant: VariantReport, metric: str) -> str:
    found = [c for c in variant.comparisons if c.metric == metric]
    if not found:
        return "control"
    c = found[0]
    if math.isnan(c.relative_lift):
        return "n/a"
    text = (
        f"{c.relative_lift:+.1%}<br><small>[{c.lift_ci_low:+.1%}, {c.lift_ci_high:+.1%}], "
        f"p = {c.p_value:.2g}</small>"
    )
    return f'<td class="best">{text} ✔</td>' if c.significant else f"<td>{text}</td>"


def _variants_table(report: GetExperimentReportResponse) -> str:
    head = (
        "<tr><th>variant</th><th>share</th><th>users</th><th>lists</th><th>impressions</th>"
        "<th>clicks</th><th>conversions</th><th>revenue</th>"
        + "".join(f"<th>{label}</th><th>{label} lift</th>" for label, _, _ in METRICS.values())
        + "</tr>"
    )
    rows = []
    for variant in report.variants:
        cells = [
            f"{variant.share:.0%}",
            f"{variant.users:,}",
            f"{variant.recommendations:,}",
            f"{variant.impressions:,}",
            f"{variant.clicks:,}",
            f"{variant.conversions:,}",
            f"{variant.revenue:,.2f}",
        ]
        row = "".join(f"<td>{cell}</td>" for cell in cells)
        for metric, (_, _, form) in METRICS.items():
            row += f"<td>{_estimate(getattr(variant, metric), form)}</td>"
            lift = _comparison(variant, metric)
            row += lift if lift.startswith("<td") else f"<td>{lift}</td>"
        name = html.escape(variant.variant) + (" 🏆" if variant.variant == report.winner else "")
        rows.append(f"<tr><th>{name}</th>{row}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _plot(report: GetExperimentReportResponse) -> str:
    figure, axes = plt.subplots(1, len(METRICS), figsize=(13, 4.2))
    names = [v.variant for v in report.variants]
    for axis, (metric, (label, unit, _)) in zip(axes, METRICS.items()):
        estimates = [getattr(v, metric) for v in report.variants]
        values = np.array([e.value for e in estimates])
        errors = np.nan_to_num(
            np.vstack(
                [values - [e.ci_low for e in estimates], [e.ci_high for e in estimates] - values]
            ).clip(min=0)
        )
        colours = ["grey"] + ["tab:blue"] * (len(names) - 1)
        axis.bar(names, values, yerr=errors, capsize=5, color=colours)
        axis.set_title(f"{label} by variant ({level_text(report.confidence_level)} CI)")
        axis.set_xlabel("variant (grey: control)")
        axis.set_ylabel(unit)
        axis.grid(axis="y", alpha=0.3)
    return _png(figure)


def _definition(report: GetExperimentReportResponse) -> str:
    experiment = report.experiment
    rows = "".join(
        f"<tr><th>{html.escape(v.name)}{' (control)' if n == 0 else ''}</th>"
        f"<td>{v.share:.0%}</td><td>{html.escape(', '.join(v.strategies) or 'usual order')}</td>"
        f"<td>{'yes' if v.blend else 'no'}</td><td>{html.escape(v.model_version or 'current')}</td>"
        f"<td>{html.escape(', '.join(v.excluded_rerankers) or 'none')}</td></tr>"
        for n, v in enumerate(experiment.variants)
    )
    return (
        "<table><tr><th>variant</th><th>share</th><th>strategies</th><th>blending</th>"
        f"<th>model version</th><th>rerankers left out</th></tr>{rows}</table>"
    )


def status_name(experiment: Experiment) -> ExperimentStatus:
    """The experiment's status; it prints as "draft", "running" or "stopped"."""
    return experiment_status(experiment.status)


def _when(report: GetExperimentReportResponse) -> str:
    experiment = report.experiment
    parts = [f"status <b>{status_name(experiment)}</b>"]
    if experiment.HasField("start_time"):
        parts.append(f"started {experiment.start_time.ToDatetime():%Y-%m-%d %H:%M} UTC")
    if experiment.HasField("stop_time"):
        parts.append(f"stopped {experiment.stop_time.ToDatetime():%Y-%m-%d %H:%M} UTC")
    hours = experiment.attribution_window.ToTimedelta().total_seconds() / 3600
    parts.append(f"attribution window {hours:g} h")
    return ", ".join(parts)


def render_experiment_html(report: GetExperimentReportResponse) -> str:
    experiment = report.experiment
    primary = METRICS[report.primary_metric][0]
    treatments = max(len(report.variants) - 1, 1)
    level = level_text(report.confidence_level)
    banner = "warning" if report.sample_ratio_mismatch else ("best" if report.winner else "")
    srm = (
        f"<b>Sample ratio mismatch</b> (chi-square p = {report.sample_ratio_p_value:.2g})"
        if report.sample_ratio_mismatch
        else f"no sample ratio mismatch (chi-square p = {report.sample_ratio_p_value:.2g})"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>InfoGap experiment {html.escape(experiment.name)}</title>
<style>{STYLE} p.warning {{ background: #fbe3e1; padding: 0.6em; }}
p.best {{ background: #e3f4e1; padding: 0.6em; }}</style></head><body>
<h1>Experiment {html.escape(experiment.name)}</h1>
<p>{html.escape(experiment.description)}</p>
<p>Catalog <code>{html.escape(experiment.catalog)}</code>; {_when(report)}; report made
{report.generate_time.ToDatetime():%Y-%m-%d %H:%M} UTC.</p>
<h2>Verdict</h2>
<p class="{banner}">{html.escape(report.conclusion)}</p>
<p>Primary metric: <b>{primary}</b>. Significance level {report.significance_level:g}, split
over {treatments} comparison(s) with the control (Bonferroni), so every interval below is a
{level} confidence interval; {srm}.</p>
<h2>Variants</h2>
{_definition(report)}
<h2>Results</h2>
{_variants_table(report)}
<img alt="Metrics by variant" src="data:image/png;base64,{_plot(report)}">
<h2>How to read this</h2>
<p>Users are assigned to variants by a hash of their id and the experiment name, so each user
always sees the same variant. <i>Users</i> counts those served at least one list; <i>lists</i>
the Recommend and RankItems responses; <i>impressions</i> the items in them. Feedback counts for
a variant when its event carries the <code>recommendation_id</code> of a list served to the same
user, within the attribution window: a click once per served item, conversions (and their
values, the revenue) whatever the item. CTR is clicks per impression, with its interval from
the delta method over users (users, not impressions, are what is randomised); conversion rate
is the share of users with a conversion; revenue per user is attributed revenue divided by
users. Brackets are {level} confidence intervals: the level at which each comparison is
decided, the significance level split over the comparisons (Bonferroni). Lift is relative to
the control, with a two-sided z-test p-value; ✔ marks a difference significant after that split,
and exactly then the lift's interval (Fieller's, from the same test) leaves out 0.
A sample ratio mismatch means the users per variant are not in the configured proportions:
something drops or misroutes traffic, and no comparison can be trusted until it is found.</p>
</body></html>
"""


def write_experiment_html(report: GetExperimentReportResponse, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_experiment_html(report), encoding="utf-8")
    return path
