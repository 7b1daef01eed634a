"""The overview page: ingestion per catalog, then each trained catalog with the models serving
it, its latest promotion decision and its training history."""

from __future__ import annotations

from datetime import timedelta

from infogap.server.core.domain import ModelInfo, TrainingDecision
from infogap.server.core.errors import NotFound
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.console.page import Page, Query, esc, number, table, when

RECENT = timedelta(hours=1)
HISTORY_LENGTH = 20


def overview(core: InfoGap, query: Query) -> Page:
    """The ``/console/`` page."""
    catalogs = core.trained_catalogs()
    sections = [_ingestion(core)]
    if not catalogs:
        sections.append(
            '<h2>Catalogs</h2><p class="muted">No catalog has been trained yet '
            "(<code>infogap train</code>, or the Train RPC).</p>"
        )
    sections.extend(_catalog(core, catalog) for catalog in catalogs)
    return Page("Overview", "<h1>Overview</h1>" + "".join(sections))


def _ingestion(core: InfoGap) -> str:
    counts = core.event_counts(RECENT)
    minutes = RECENT.total_seconds() / 60
    rows = [
        (
            esc(c.catalog),
            f"{c.event_count:,}",
            f"{c.received_since:,}",
            number(c.received_since / minutes, 3),
        )
        for c in counts
    ]
    total = sum(c.event_count for c in counts)
    recent = sum(c.received_since for c in counts)
    headers = ("Catalog", "Events stored", "Received in the last hour", "Per minute")
    return (
        "<h2>Ingestion</h2>"
        f'<p id="events-total">{total:,} events stored; {recent:,} received in the last hour '
        f"({number(recent / minutes, 3)} a minute).</p>"
        + table(headers, rows, numeric=(1, 2, 3))
        + '<p class="muted">Duplicates (events sent again) are not stored and not counted here. '
        "Request and error rates per RPC are the metrics endpoint's (<code>/metrics</code>, "
        "when it is served); the core keeps no count of failed calls.</p>"
    )


def _catalog(core: InfoGap, catalog: str) -> str:
    try:
        infos, decision, _ = core.model_info(catalog)
    except NotFound:
        infos, decision = [], None
    history = core.training_history(catalog, HISTORY_LENGTH)
    serving = (
        _serving(infos)
        if infos
        else '<p class="muted">No model of this catalog serves yet: no run was promoted.</p>'
    )
    return (
        f'<section class="card" id="catalog-{esc(catalog)}"><h2>Catalog {esc(catalog)}</h2>'
        + serving
        + _decision(decision or (history[0] if history else None))
        + f"<h3>Training history (latest {HISTORY_LENGTH})</h3>"
        + _history(history)
        + "</section>"
    )


def _serving(infos: list[ModelInfo]) -> str:
    versions = sorted({info.version for info in infos})
    rows = [
        (
            esc(info.strategy),
            f'<span class="model-version">{esc(info.version)}</span>',
            when(info.trained_at),
            number(info.training_seconds, 3),
            f"{info.user_count:,}",
            f"{info.item_count:,}",
            f"{info.event_count:,}",
            esc(", ".join(f"{k}={number(v)}" for k, v in sorted(info.metrics.items()))),
        )
        for info in infos
    ]
    headers = ("Strategy", "Version", "Trained", "Seconds", "Users", "Items", "Events", "Metrics")
    return (
        f"<p>Serving version <strong>{esc(', '.join(versions))}</strong>, in this order:</p>"
        + table(headers, rows, numeric=(3, 4, 5, 6))
    )


def _decision(decision: TrainingDecision | None) -> str:
    if decision is None:
        return ""
    outcome = (
        '<strong class="good">promoted</strong>'
        if decision.promoted
        else '<strong class="bad">not promoted</strong>'
    )
    serving = "none" if decision.serving_value is None else number(decision.serving_value)
    return (
        f"<p>Latest run <code>{esc(decision.candidate_version)}</code> at "
        f"{when(decision.decided_at)}: {outcome}; {esc(decision.metric)} "
        f"{number(decision.candidate_value)} against {serving} serving "
        f"(tolerance {number(decision.tolerance)}). {esc(decision.reason)}</p>"
    )


def _history(history: list[TrainingDecision]) -> str:
    rows = [
        (
            when(d.decided_at),
            f"<code>{esc(d.candidate_version)}</code>",
            '<span class="good">yes</span>' if d.promoted else '<span class="bad">no</span>',
            esc(d.metric),
            number(d.candidate_value),
            "-" if d.serving_value is None else number(d.serving_value),
            esc(d.serving_version or "-"),
            esc(d.reason),
        )
        for d in history
    ]
    headers = ("Decided", "Candidate", "Promoted", "Metric", "Candidate", "Serving", "Was", "Why")
    return table(headers, rows, numeric=(4, 5))
