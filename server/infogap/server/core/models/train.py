"""``Training``: the Train use case, what is due for retraining, and retraining after erasure."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager

import pyarrow as pa
import pyarrow.compute as pc

from infogap.server.config import Settings
from infogap.server.core.domain import TrainingDecision, TrainReport
from infogap.server.core.errors import FailedPrecondition, InfoGapError
from infogap.server.core.feedback.ingest import EventWriter
from infogap.server.core.metrics import CoreMetrics
from infogap.server.core.models.lifecycle import ModelLifecycle
from infogap.server.core.models.registry import ServingRegistry
from infogap.server.core.models.retraining import SingleFlight

log = logging.getLogger(__name__)


class Training:
    """Trains catalogs one run at a time each, and publishes what training promotes.

    Owns one background thread, which retrains catalogs whose models cannot forget a user
    after an erasure; ``close`` stops and joins it (after the run in progress, if any).
    """

    def __init__(
        self,
        settings: Settings,
        lifecycle: ModelLifecycle,
        registry: ServingRegistry,
        writer: EventWriter,
        decisions: Mapping[str, TrainingDecision],
        attributes_of: Callable[[str], Mapping[str, str]],
        after_training: Callable[[], None],
        training_lock: Callable[[str], AbstractContextManager[bool]],
        metrics: CoreMetrics | None = None,
    ) -> None:
        """``decisions`` are the stored decisions of the latest runs; ``after_training`` is
        called after each run (data-driven segments follow the data); ``training_lock`` is
        the store's ``try_training_lock``, which keeps replicas from training a catalog at once;
        ``metrics`` counts the runs and their durations by outcome."""
        self._settings = settings
        self._metrics = metrics or CoreMetrics()
        self._lifecycle = lifecycle
        self._registry = registry
        self._writer = writer
        self._attributes_of = attributes_of
        self._after_training = after_training
        self._training_lock = training_lock
        self._decisions = dict(decisions)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._new_events: defaultdict[str, int] = defaultdict(int)
        self._to_retrain: set[str] = set()
        self._to_retrain_lock = threading.Lock()
        self._retrainer = SingleFlight("infogap-erasure-retraining", self._retrain_requested)

    def close(self) -> None:
        """Stops the erasure retraining thread, after the run in progress."""
        self._retrainer.stop()

    def train(self, catalog: str, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        """Trains the catalog's models (``catalog`` already validated), publishes them if
        promoted; returns the run's report. ``progress`` hears each step.

        :raises FailedPrecondition: when the catalog has no training data, or another
            replica of the store is training it (its models reach this one when it ends).
        """
        started = time.perf_counter()
        try:
            report = self._train(catalog, progress, started)
        except Exception:
            self._metrics.training_finished(catalog, "failed", time.perf_counter() - started)
            raise
        outcome = "promoted" if report.decision.promoted else "kept"
        self._metrics.training_finished(catalog, outcome, report.total_seconds)
        return report

    def _train(self, catalog: str, progress: Callable[[str], None], started: float) -> TrainReport:
        with self._locks[catalog], self._training_lock(catalog) as acquired:
            if not acquired:
                raise FailedPrecondition(
                    f"catalog {catalog!r} is being trained by another replica; its models are "
                    "served here when that run ends"
                )
            self._registry.track(catalog)
            # Events committed up to here are in the data the models are trained on.
            sequence = self._writer.committed_sequence
            self._new_events[catalog] = 0
            trained, decision = self._lifecycle.train(
                catalog, self._registry.serving_models(catalog), self._attributes_of, progress
            )
            if decision.promoted:
                self._registry.publish(trained, sequence)
            self._decisions[catalog] = decision
        if self._settings.profiles.clusters:
            # Data-driven segments follow the data too, without delaying the Train call.
            self._after_training()
        log.info("trained %s: %s", catalog, decision.reason)
        return TrainReport(tuple(trained.infos), time.perf_counter() - started, decision)

    def decision(self, catalog: str) -> TrainingDecision | None:
        """The decision of the catalog's latest training run, if any."""
        return self._decisions.get(catalog)

    def adopt(self, catalog: str, decision: TrainingDecision) -> None:
        """Takes a run another replica made as the catalog's latest: its models serve here
        now, and the events before it no longer count towards retraining."""
        with self._locks[catalog]:
            self._decisions[catalog] = decision
            self._new_events[catalog] = 0

    def note_stored(self, events: pa.Table) -> None:
        """Counts newly stored events per catalog, towards ``catalogs_due``."""
        for entry in pc.value_counts(events.column("catalog")).to_pylist():
            self._new_events[entry["values"]] += entry["counts"]

    def catalogs_due(self, interval_elapsed: bool) -> list[str]:
        """Catalogs with enough new events (or any, when the retrain interval has elapsed)."""
        threshold = self._settings.lifecycle.retrain_after_events
        return [
            catalog
            for catalog, count in list(self._new_events.items())
            if count and (interval_elapsed or (threshold is not None and count >= threshold))
        ]

    def retrain_later(self, catalogs: Iterable[str]) -> None:
        """Retrains ``catalogs`` on the background thread, without waiting."""
        with self._to_retrain_lock:
            self._to_retrain.update(catalogs)
        self._retrainer.request()

    def _retrain_requested(self) -> None:
        with self._to_retrain_lock:
            catalogs, self._to_retrain = sorted(self._to_retrain), set()
        for catalog in catalogs:
            try:
                self.train(catalog)
            except InfoGapError as error:
                log.info("retraining %s after an erasure skipped: %s", catalog, error.message)
