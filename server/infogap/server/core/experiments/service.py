"""Online experiments, as the core uses them: the facade over the definitions and their
lifecycle (``definitions``), the assignment of users (``assignment``), the log of what each
variant served (``impressions``) and the report (``report``).

At most one experiment runs per catalog at a time, so two experiments never split the same
traffic differently.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection

from infogap.server.config import ExperimentDefinition, Settings
from infogap.server.core.domain import (
    Experiment,
    ExperimentReport,
    ExperimentStatus,
    Recommendation,
    Variant,
)
from infogap.server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InfoGapError,
    NotFound,
    StartupError,
)
from infogap.server.core.experiments.assignment import Assignment, RunningExperiment
from infogap.server.core.experiments.definitions import (
    Definitions,
    check_can_start,
    check_can_stop,
    experiment_from_config,
)
from infogap.server.core.experiments.impressions import ImpressionLog
from infogap.server.core.experiments.report import build_report
from infogap.server.core.metrics import CoreMetrics
from infogap.server.core.store import Store

log = logging.getLogger(__name__)


class Experiments:
    """Defines, starts, stops, assigns and reports experiments."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        strategies: Collection[str],
        rerankers: Collection[str],
        prepare_variant: Callable[[str, Variant], None],
        metrics: CoreMetrics | None = None,
    ) -> None:
        """``prepare_variant(catalog, variant)`` makes a variant servable (e.g. loads a pinned
        model version) or raises ``FailedPrecondition``/``NotFound`` saying why it cannot be;
        ``metrics`` counts assignments and the lists each variant serves."""
        self._store = store
        self._metrics = metrics or CoreMetrics()
        self._settings = settings
        self._definitions = Definitions(store, settings, strategies, rerankers)
        self._prepare_variant = prepare_variant
        self._lock = threading.Lock()
        self._running: dict[str, RunningExperiment] = {}  # by catalog
        self._impressions = ImpressionLog(store, settings.experiments.impression_flush_seconds)
        for experiment in self._definitions.all():
            if experiment.status == ExperimentStatus.RUNNING:
                self._resume(experiment)

    def _resume(self, experiment: Experiment) -> None:
        """Serves a running experiment again after a restart; one that can no longer be served
        (a pinned model's files are gone) is stopped, loudly, rather than left half-running."""
        try:
            self._prepare(experiment)
        except (FailedPrecondition, NotFound) as error:
            log.error("stopping experiment %r: %s", experiment.name, error.message)
            self._definitions.move(experiment, ExperimentStatus.STOPPED)
            return
        self._running[experiment.catalog] = RunningExperiment(experiment, self._metrics)

    def follow_store(self) -> None:
        """Serves the experiments the store says are running, as another replica started or
        stopped them: experiments started elsewhere are prepared and split traffic here too
        (assignment is a hash of experiment and user, the same on every replica)."""
        with self._lock:
            running = {
                experiment.catalog: experiment
                for experiment in self._definitions.all()
                if experiment.status == ExperimentStatus.RUNNING
            }
            for catalog, current in list(self._running.items()):
                stored = running.get(catalog)
                if stored is None or stored.name != current.experiment.name:
                    del self._running[catalog]
                    self._impressions.flush()
            for catalog, experiment in running.items():
                if catalog in self._running:
                    continue
                try:
                    self._prepare(experiment)
                except (FailedPrecondition, NotFound) as error:
                    # Not stopped from here: the replica that started it serves it; this one
                    # tries again at the next round (a pinned version may not be fetched yet).
                    log.warning("cannot serve experiment %r yet: %s", experiment.name, error)
                    continue
                self._running[catalog] = RunningExperiment(experiment, self._metrics)

    def close(self) -> None:
        """Stops the impression log's thread, writing out what it holds."""
        self._impressions.close()

    def define_from_config(self, definitions: list[ExperimentDefinition]) -> None:
        """Creates the configured experiments not stored yet, and starts those marked so.

        :raises StartupError: naming the definition, when one is invalid or cannot start.
        """
        for definition in definitions:
            try:
                # A stored experiment of that name stands: the config defines, never redefines.
                with contextlib.suppress(AlreadyExists):
                    self.create(experiment_from_config(definition))
                if definition.start and self._is_draft(definition.name):
                    self.start(definition.name)
            except InfoGapError as error:
                raise StartupError(
                    f"experiments.definitions {definition.name!r}: {error.message}"
                ) from error

    def _is_draft(self, name: str) -> bool:
        return self._definitions.find(name).status == ExperimentStatus.DRAFT

    # -- serving -----------------------------------------------------------------------------

    def assign(self, catalog: str, user_id: str) -> Assignment | None:
        """The running experiment of the catalog and the user's variant in it, if any."""
        running = self._running.get(catalog)
        return None if running is None else running.assignment(user_id)

    def served(
        self,
        recommendation: Recommendation,
        assignment: Assignment,
        user_id: str,
        catalog: str,
        log: bool = True,
    ) -> Recommendation:
        """The recommendation labelled with its experiment and variant, its list logged unless
        ``log`` is False (a preview no report may count)."""
        # Built directly: dataclasses.replace costs several microseconds on the request path.
        labelled = Recommendation(
            recommendation.recommendation_id,
            recommendation.items,
            recommendation.model_version,
            recommendation.strategy,
            assignment.experiment.name,
            assignment.variant.name,
        )
        if log:
            self._impressions.log(labelled, user_id, catalog)
            self._metrics.served(
                assignment.experiment.name, assignment.variant.name, len(recommendation.items)
            )
        return labelled

    def running(self) -> list[tuple[str, str]]:
        """(experiment, catalog) of the experiments running now."""
        return [(r.experiment.name, catalog) for catalog, r in list(self._running.items())]

    def pinned_versions(self) -> set[tuple[str, str]]:
        """(catalog, model version) pairs that running experiments serve."""
        return {
            (running.experiment.catalog, variant.model_version)
            for running in self._running.values()
            for variant in running.experiment.variants
            if variant.model_version
        }

    def forget(self, user_id: str) -> None:
        """Erasure: writes out the lists served so far (so that deleting the user's rows
        catches them) and drops the user's cached assignments."""
        self._impressions.flush()
        for running in list(self._running.values()):
            running.forget(user_id)

    # -- administration ----------------------------------------------------------------------

    def create(self, experiment: Experiment) -> Experiment:
        """Stores a new experiment as a draft.

        :raises InvalidArgument: for a bad definition (see ``definitions.check_definition``).
        :raises AlreadyExists: when the name is taken.
        """
        return self._definitions.create(experiment)

    def start(self, name: str) -> Experiment:
        """Starts a draft; from now its catalog's traffic is split between its variants.

        :raises NotFound: when no experiment has that name.
        :raises FailedPrecondition: when it is not a draft, another experiment runs on its
            catalog, or a variant cannot be served.
        """
        with self._lock:
            experiment = self._definitions.find(name)
            check_can_start(experiment)
            other = self._running.get(experiment.catalog)
            if other is not None:
                raise FailedPrecondition(
                    f"experiment {other.experiment.name!r} is running on catalog "
                    f"{experiment.catalog!r}; stop it first"
                )
            self._prepare(experiment)
            started = self._definitions.move(experiment, ExperimentStatus.RUNNING)
            self._running[experiment.catalog] = RunningExperiment(started, self._metrics)
            return started

    def stop(self, name: str) -> Experiment:
        """Stops a running experiment: its catalog is served as usual again.

        :raises NotFound: when no experiment has that name.
        :raises FailedPrecondition: when it is not running.
        """
        with self._lock:
            experiment = self._definitions.find(name)
            check_can_stop(experiment)
            stopped = self._definitions.move(experiment, ExperimentStatus.STOPPED)
            self._running.pop(experiment.catalog, None)
            self._impressions.flush()
            return stopped

    def all(self) -> list[Experiment]:
        """Every experiment, newest first."""
        return self._definitions.all()

    def _prepare(self, experiment: Experiment) -> None:
        for variant in experiment.variants:
            self._prepare_variant(experiment.catalog, variant)

    # -- reporting ---------------------------------------------------------------------------

    def report(self, name: str) -> ExperimentReport:
        """Per-variant exposure and attributed feedback, each variant against the control.

        :raises NotFound: when no experiment has that name.
        """
        experiment = self._definitions.find(name)
        settings = self._settings.experiments
        self._impressions.flush()
        outcomes = self._store.experiment_outcomes(
            name,
            click_types=settings.click_types,
            conversion_types=settings.conversion_types,
            window_seconds=experiment.attribution_window_seconds,
            skew_seconds=self._settings.limits.max_clock_skew_seconds,
        )
        return build_report(experiment, outcomes, settings)
