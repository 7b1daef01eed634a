"""report.json and a self-contained report.html (tables, and PNG plots embedded as base64)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from infogap.server.evaluation.runner import ACTIVITY_BUCKETS, CURVE_K, METRICS


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _curves(report: dict) -> str:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    depths = np.arange(1, CURVE_K + 1)
    for name, axis in zip(("precision", "recall"), axes):
        for candidate in report["candidates"].values():
            axis.plot(depths, candidate["curves"][name], marker="o", ms=3, label=candidate["label"])
        axis.set_title(f"{name.capitalize()}@k, k = 1..{CURVE_K}")
        axis.set_xlabel("k (items recommended)")
        axis.set_ylabel(f"{name} (share, 0-1)")
        axis.set_xticks(depths)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return _png(figure)


def _buckets(report: dict) -> str:
    figure, axis = plt.subplots(figsize=(10, 4.5))
    names = [name for name, _, _ in ACTIVITY_BUCKETS]
    candidates = list(report["candidates"].values())
    width = 0.8 / max(len(candidates), 1)
    for n, candidate in enumerate(candidates):
        values = [candidate["activity_buckets"].get(b, {}).get("ndcg", np.nan) for b in names]
        axis.bar(np.arange(len(names)) + n * width, values, width, label=candidate["label"])
    users = candidates[0]["activity_buckets"] if candidates else {}
    axis.set_xticks(
        np.arange(len(names)) + width * (len(candidates) - 1) / 2,
        [f"{b}\n({users.get(b, {}).get('users', 0)} users)" for b in names],
    )
    axis.set_title(f"NDCG@{report['k']} by user activity")
    axis.set_xlabel("training interactions per user (bucket)")
    axis.set_ylabel(f"NDCG@{report['k']} (0-1)")
    axis.grid(axis="y", alpha=0.3)
    axis.set_ylim(0, axis.get_ylim()[1] * 1.45)  # room for the legend above the bars
    axis.legend(fontsize=8, loc="upper left", ncol=2)
    return _png(figure)


def _share_histogram(axis: Any, values: list, bins: np.ndarray, **style: Any) -> None:
    if values:
        axis.hist(values, bins=bins, weights=np.full(len(values), 1 / len(values)), **style)


def _popularity(report: dict) -> str:
    figure, axis = plt.subplots(figsize=(10, 4.5))
    every = [report["consumed_item_popularity"]] + [
        c["recommended_item_popularity"] for c in report["candidates"].values()
    ]
    top = max((max(v) for v in every if v), default=0)
    # A bin for never-consumed items (popularity 0), then logarithmic bins.
    bins = np.unique(np.concatenate([[-0.5, 0.5], np.geomspace(1.5, max(top, 2) + 1, 20)]))
    _share_histogram(
        axis,
        report["consumed_item_popularity"],
        bins,
        histtype="stepfilled",
        alpha=0.3,
        color="grey",
        label="consumed (test positives)",
    )
    for candidate in report["candidates"].values():
        _share_histogram(
            axis,
            candidate["recommended_item_popularity"],
            bins,
            histtype="step",
            linewidth=1.5,
            label=f"recommended: {candidate['label']}",
        )
    axis.set_xscale("symlog")
    axis.set_title(f"Popularity of recommended (top {report['k']}) vs consumed items")
    axis.set_xlabel("item popularity (training positives per item, log scale)")
    axis.set_ylabel("share of the items (0-1)")
    axis.legend(fontsize=8)
    return _png(figure)


def _metric_bars(report: dict) -> str:
    names = [n for n in METRICS if n not in ("novelty",)]
    figure, axis = plt.subplots(figsize=(12, 4.5))
    candidates = list(report["candidates"].values())
    width = 0.8 / max(len(candidates), 1)
    for n, candidate in enumerate(candidates):
        values = np.array([candidate["metrics"][name]["value"] for name in names])
        lows = np.array([candidate["metrics"][name]["ci95"][0] for name in names])
        highs = np.array([candidate["metrics"][name]["ci95"][1] for name in names])
        errors = np.nan_to_num(np.vstack([values - lows, highs - values]).clip(min=0))
        axis.bar(
            np.arange(len(names)) + n * width,
            values,
            width,
            yerr=errors,
            capsize=2,
            label=candidate["label"],
        )
    axis.set_xticks(
        np.arange(len(names)) + width * (len(candidates) - 1) / 2,
        [METRICS[n][0].replace("@k", f"@{report['k']}") for n in names],
        fontsize=8,
    )
    axis.set_title("Metrics with bootstrap 95% confidence intervals")
    axis.set_xlabel("metric")
    axis.set_ylabel("value (share, 0-1)")
    axis.grid(axis="y", alpha=0.3)
    axis.set_ylim(0, 1.3)
    axis.legend(fontsize=8, loc="upper left", ncol=3)
    return _png(figure)


# The privacy plot's reference lines: report key, legend, line style, colour.
PRIVACY_REFERENCES = (
    ("no_privacy", "popularity without privacy", "-", "grey"),
    ("bounding_only", "contribution bounding only (no noise)", "--", "black"),
)


def _privacy_curve(privacy: dict) -> str:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    releases = privacy["releases"]
    epsilons = [release["epsilon"] for release in releases]
    draws = releases[0]["draws"] if releases else 0
    k = privacy["k"]
    for name, label, axis in (("ndcg", f"NDCG@{k}", axes[0]), ("recall", f"Recall@{k}", axes[1])):
        axis.errorbar(
            epsilons,
            [release[name]["mean"] for release in releases],
            yerr=[release[name]["std"] for release in releases],
            marker="o",
            capsize=4,
            label=f"differentially private (mean ± sd of {draws} draws)",
        )
        for key, legend, style, colour in PRIVACY_REFERENCES:
            mean, spread = privacy[key][name]["mean"], privacy[key][name]["std"]
            axis.axhline(mean, linestyle=style, color=colour, label=legend)
            if spread > 0:
                axis.axhspan(mean - spread, mean + spread, color=colour, alpha=0.12)
        axis.set_xscale("log")
        axis.minorticks_off()  # the measured epsilons are the ticks
        axis.set_xticks(epsilons, [f"{epsilon:g}" for epsilon in epsilons])
        axis.set_title(f"{label} of the popularity list by epsilon")
        axis.set_xlabel("ε per release (log scale)")
        axis.set_ylabel(f"{label} (0-1)")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    return _png(figure)


def _mean_sd(figure: dict) -> str:
    return f"{figure['mean']:.4f} ± {figure['std']:.4f}"


def privacy_table(privacy: dict) -> str:
    k = privacy["k"]
    rows = [
        ("popularity without privacy", privacy["no_privacy"]),
        ("contribution bounding only (no noise)", privacy["bounding_only"]),
    ] + [(f"ε = {release['epsilon']:g}", release) for release in privacy["releases"]]
    body = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{_mean_sd(figures['ndcg'])}</td>"
        f"<td>{_mean_sd(figures['recall'])}</td><td>{figures['draws']}</td></tr>"
        for label, figures in rows
    )
    return (
        f"<table><tr><th>release</th><th>NDCG@{k}</th><th>Recall@{k}</th><th>draws</th></tr>"
        f"{body}</table>"
    )


def _privacy_section(report: dict) -> str:
    privacy = report.get("privacy")
    if privacy is None:
        return ""
    title = "ε vs quality: differentially private popularity"
    return f"""<h2>{html.escape(title)}</h2>
<p>{html.escape(privacy["mechanism"])}; split {html.escape(privacy["split"])},
{privacy["users"]:,} users. {html.escape(privacy["protocol"])} Measured in
{privacy["seconds"]:.0f} s.</p>
{privacy_table(privacy)}
<img alt="{html.escape(title)}" src="data:image/png;base64,{_privacy_curve(privacy)}">
"""


def _rows(report: dict) -> dict[str, Any]:
    """The candidates, then the reference rows computed outside the server."""
    return {**report["candidates"], **report.get("references", {})}


def _best(report: dict, name: str) -> set[str]:
    values = {
        key: c["metrics"][name]["value"]
        for key, c in _rows(report).items()
        if not math.isnan(c["metrics"][name]["value"])
    }
    if not values:
        return set()
    target = max(values.values()) if METRICS[name][1] else min(values.values())
    return {key for key, value in values.items() if value == target}


def _fmt(value: float, name: str) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f}" if name == "novelty" else f"{value:.3f}"


def metrics_table(report: dict) -> str:
    k = report["k"]
    head = "".join(f"<th>{html.escape(METRICS[n][0].replace('@k', f'@{k}'))}</th>" for n in METRICS)
    rows = []
    for key, candidate in _rows(report).items():
        cells = []
        for name in METRICS:
            figure = candidate["metrics"][name]
            text = (
                f"{_fmt(figure['value'], name)}<br><small>[{_fmt(figure['ci95'][0], name)}, "
                f"{_fmt(figure['ci95'][1], name)}]</small>"
            )
            best = key in _best(report, name)
            cells.append(f'<td class="best">{text} ★</td>' if best else f"<td>{text}</td>")
        rows.append(f"<tr><th>{html.escape(candidate['label'])}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>candidate</th>{head}</tr>{''.join(rows)}</table>"


def strategy_table(report: dict) -> str:
    names = sorted({s for c in _rows(report).values() for s in c["strategy_share"]})
    head = "".join(f"<th>{html.escape(s)}</th>" for s in names)
    rows = [
        f"<tr><th>{html.escape(c['label'])}</th>"
        + "".join(f"<td>{c['strategy_share'].get(s, 0):.1%}</td>" for s in names)
        + f"<td>{c['users']}</td><td>{c['train_seconds']:.1f}</td></tr>"
        for c in _rows(report).values()
    ]
    return (
        f"<table><tr><th>candidate</th>{head}<th>users</th><th>Train (s)</th></tr>"
        f"{''.join(rows)}</table>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1300px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
tr th:first-child { text-align: left; }
td.best { background: #e3f4e1; font-weight: bold; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def render_html(report: dict) -> str:
    k = report["k"]
    counts = ", ".join(
        f"{name.replace('_', ' ')} {value:,}" for name, value in report["counts"].items()
    )
    plots = [
        ("Metrics with confidence intervals", _metric_bars(report)),
        ("Precision and recall at k", _curves(report)),
        ("Accuracy by user activity", _buckets(report)),
        ("Popularity: recommended vs consumed", _popularity(report)),
    ]
    images = "".join(
        f"<h2>{html.escape(title)}</h2>"
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        for title, data in plots
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>InfoGap offline evaluation</title>
<style>{STYLE}</style></head><body>
<h1>InfoGap offline evaluation</h1>
<p>Data set <code>{html.escape(report["dataset"])}</code>; split <b>{html.escape(report["split"])}</b>,
seed {report["seed"]}, k = {k}. {html.escape(counts)}.</p>
<h2>Protocol</h2>
<p>{html.escape(report["protocol"])}</p>
<p>Every candidate is a real in-process InfoGap server: users and items upserted, training
events recorded and Train called through the SDK, then one Recommend (RankItems for cold items)
per evaluated user. Metrics are means over the evaluated users; {html.escape(report["bootstrap"])}
are shown in brackets. ★ marks the best value of each column. AUC treats items left off the
returned list (up to {CURVE_K} items) as tied below it. The mean popularity rank is the mean rank of
the recommended items by training positives (1 = most popular): higher means less popularity
bias. Rows labelled "Reference, computed outside the server" are strong baselines (EASE, item-kNN,
implicit ALS, LightFM WARP, popularity) fit directly on the same training positives, not through
InfoGap; their Train time is the fit alone (random and temporal splits only). Run time {report["seconds"]:.0f} s.</p>
<h2>Metrics at k = {k}</h2>
{metrics_table(report)}
<h2>Share of users served by each strategy</h2>
{strategy_table(report)}
{images}
{_privacy_section(report)}
</body></html>
"""


def write_report(report: dict, output: Path) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    json_path, html_path = output / "report.json", output / "report.html"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=True))
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
