"""The offline evaluation of a server's own history: the core's ``HistoryEvaluator``, handed
to it by the server assembly, behind the ``EvaluateModels`` RPC."""

from __future__ import annotations

from collections.abc import Callable

from infogap.server.config import Settings
from infogap.server.core.evaluation import EvaluationReport, EvaluationRequest
from infogap.server.core.store import Store
from infogap.server.evaluation.runner import evaluate_store


class OfflineEvaluator:
    """Evaluates the candidates on a catalog's stored history, each in a throwaway server,
    and renders the report as HTML too."""

    def evaluate(
        self,
        store: Store,
        settings: Settings,
        request: EvaluationRequest,
        progress: Callable[[str], None],
    ) -> EvaluationReport:
        """See ``HistoryEvaluator.evaluate``; the candidate servers are built without an
        evaluator, and ``settings`` shape them (``servers.server_settings``).

        :raises InvalidArgument: for a bad split, candidate or max_users.
        :raises FailedPrecondition: when the history is too small to evaluate, or the privacy
            curve is asked for without its plugin.
        """
        report = evaluate_store(
            store,
            request.catalog,
            settings,
            k=request.k,
            split_kind=request.split,
            seed=request.seed,
            candidate_keys=list(request.candidates) or None,
            max_users=request.max_users,
            include_privacy=request.include_privacy,
            progress=progress,
        )
        # Imported on first use: matplotlib takes a while to load, and most servers never
        # evaluate.
        from infogap.server.evaluation.report import render_html

        return EvaluationReport(report, render_html(report))
