"""The evaluation pages: the offline evaluations of stored history (EvaluateModels) this server
ran since it started, and each one's own HTML report.

Reports are returned to the caller, not stored, so the core keeps the last few in memory
(``InfoGap.finished_evaluations``); the page says so, and a restart forgets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infogap.server.core.errors import NotFound
from infogap.server.core.evaluation import FinishedEvaluation
from infogap.server.core.service import KEPT_EVALUATIONS, InfoGap
from infogap.server.transport.http.console.page import Page, Query, esc, link, number, table, when


def evaluations(core: InfoGap, query: Query) -> Page:
    """The ``/console/evaluations`` page."""
    finished = core.finished_evaluations()
    note = (
        f'<p class="muted">Evaluation reports are not stored: these are the last '
        f"{KEPT_EVALUATIONS} evaluations of stored history run through this server since it "
        "started (the EvaluateModels RPC, <code>Client.evaluate_models</code>). "
        "<code>infogap eval</code> on a data set folder writes its report to files instead.</p>"
    )
    if not finished:
        body = note + '<p id="no-evaluations">No evaluation has run on this server yet.</p>'
    else:
        body = note + "".join(_summary(f) for f in finished)
    return Page("Evaluations", "<h1>Evaluations</h1>" + body)


def evaluation_report(core: InfoGap, query: Query, number_text: str) -> str:
    """The whole HTML document of evaluation ``number_text``'s own report."""
    for finished in core.finished_evaluations():
        if str(finished.number) == number_text:
            return finished.report.html
    raise NotFound(f"no evaluation numbered {number_text!r} is kept on this server")


def _summary(finished: FinishedEvaluation) -> str:
    request = finished.request
    report = finished.report.report
    candidates = (request.candidates and ", ".join(request.candidates)) or "every available one"
    return (
        f'<section class="card evaluation"><h2>Evaluation {finished.number} of catalog '
        f"{esc(request.catalog)}</h2><p>Finished {when(finished.finished_at)}; split "
        f"<code>{esc(request.split)}</code>, k {request.k}, candidates {esc(candidates)}, "
        f"seed {request.seed}. "
        + link(f"/evaluations/{finished.number}", "The full report")
        + "</p>"
        + _metrics(report)
        + "</section>"
    )


def _metrics(report: Mapping[str, Any]) -> str:
    """Each candidate's metrics with their 95% intervals, read from the JSON-ready report."""
    candidates = {**report.get("candidates", {}), **report.get("references", {})}
    names: list[str] = []
    for candidate in candidates.values():
        for name in candidate.get("metrics", {}):
            if name not in names:
                names.append(name)
    rows = []
    for key, candidate in candidates.items():
        cells = [esc(candidate.get("label", key))]
        for name in names:
            figure = candidate.get("metrics", {}).get(name)
            if not isinstance(figure, Mapping) or "value" not in figure:
                cells.append("-")
                continue
            low, high = figure.get("ci95", (figure["value"], figure["value"]))
            cells.append(
                f"{number(figure['value'])} "
                f'<span class="muted">[{number(low)}, {number(high)}]</span>'
            )
        rows.append(cells)
    return table(["Candidate", *names], rows, numeric=tuple(range(1, len(names) + 1)))
