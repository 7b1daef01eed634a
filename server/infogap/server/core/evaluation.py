"""How the core reaches the offline evaluation without importing it.

The evaluation sits above the core (it drives throwaway servers), so the core only knows this
interface; the server assembly hands it an implementation (``evaluation.history``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from infogap.server.config import Settings
from infogap.server.core.store import Store


@dataclass(frozen=True)
class EvaluationRequest:
    """What ``EvaluateModels`` asks for, with k already checked and the catalog normalised."""

    catalog: str
    split: str
    k: int
    candidates: tuple[str, ...]  # candidate keys; () for every available one
    max_users: int
    seed: int
    include_privacy: bool


@dataclass(frozen=True)
class EvaluationReport:
    """An evaluation's JSON-ready report and its HTML rendering."""

    report: Mapping[str, Any]
    html: str


@dataclass(frozen=True)
class FinishedEvaluation:
    """An evaluation this server ran, kept (in memory) for the console to show again;
    ``number`` counts them from 1 since the server started."""

    number: int
    request: EvaluationRequest
    report: EvaluationReport
    finished_at: datetime


class HistoryEvaluator(Protocol):
    """Evaluates candidate models on a catalog's stored history."""

    def evaluate(
        self,
        store: Store,
        settings: Settings,
        request: EvaluationRequest,
        progress: Callable[[str], None],
    ) -> EvaluationReport:
        """The report of ``request`` on ``store``'s history, the candidate servers configured
        like ``settings``. ``progress`` hears each step and may raise to abandon.

        :raises InvalidArgument: for a bad split, candidate or max_users.
        :raises FailedPrecondition: when the history is too small to evaluate, or the privacy
            curve is asked for without its plugin.
        """
        ...
