"""Experiment definitions: turning a configured definition into the domain type, checking a
definition, and the lifecycle draft -> running -> stopped as the store records it.

A stopped experiment never runs again (create a new one to run again), and a running one is
stopped, not deleted, so its report stays.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import replace

from infogap.server.config import ExperimentDefinition, Settings, VariantSettings
from infogap.server.core import validation
from infogap.server.core.domain import Experiment, ExperimentStatus, Variant, utc_now
from infogap.server.core.errors import FailedPrecondition, InvalidArgument, NotFound
from infogap.server.core.store import Store

MAX_VARIANTS = 10
MAX_ATTRIBUTION_WINDOW_SECONDS = 90 * 86_400.0
SHARE_TOLERANCE = 1e-9  # shares summing to 1 in floating point may come out a hair above
MAX_DESCRIPTION_LENGTH = 1024

# The one move each status allows, and the status it comes from.
_PREVIOUS = {
    ExperimentStatus.RUNNING: ExperimentStatus.DRAFT,
    ExperimentStatus.STOPPED: ExperimentStatus.RUNNING,
}


def variant_from_config(settings: VariantSettings) -> Variant:
    """The domain variant of a ``[[variants]]`` table (config file or ``experiments create``)."""
    return Variant(
        name=settings.name,
        share=settings.share,
        strategies=tuple(settings.strategies),
        blend=settings.blend,
        model_version=settings.model_version,
        excluded_rerankers=tuple(settings.excluded_rerankers),
    )


def experiment_from_config(definition: ExperimentDefinition) -> Experiment:
    """The domain experiment (a draft, not checked yet) of a configured definition; an
    attribution window left out is 0, which stands for the server's default."""
    return Experiment(
        name=definition.name,
        catalog=definition.catalog,
        description=definition.description,
        variants=tuple(variant_from_config(v) for v in definition.variants),
        attribution_window_seconds=3600 * (definition.attribution_window_hours or 0),
    )


def check_definition(
    experiment: Experiment,
    strategies: Collection[str],
    rerankers: Collection[str],
    settings: Settings,
) -> Experiment:
    """The experiment with its catalog name normalised.

    :raises InvalidArgument: naming the first bad field, as ``experiment.<field>``.
    """
    limits = settings.limits
    validation.identifier(experiment.name, "experiment.name", limits)
    catalog = validation.catalog_name(experiment.catalog, "experiment.catalog")
    if len(experiment.description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            "experiment.description", f"longer than {MAX_DESCRIPTION_LENGTH} characters"
        )
    if not 2 <= len(experiment.variants) <= MAX_VARIANTS:
        raise InvalidArgument(
            "experiment.variants",
            f"must hold 2 to {MAX_VARIANTS} variants (the first is the control), "
            f"got {len(experiment.variants)}",
        )
    for index, variant in enumerate(experiment.variants):
        field = f"experiment.variants[{index}]"
        validation.identifier(variant.name, f"{field}.name", limits)
        if not (math.isfinite(variant.share) and 0 < variant.share <= 1):
            raise InvalidArgument(f"{field}.share", "must be above 0 and at most 1")
        _known(variant.strategies, strategies, f"{field}.strategies", "strategy", "loaded")
        validation.distinct(variant.strategies, f"{field}.strategies")
        _known(
            variant.excluded_rerankers,
            rerankers,
            f"{field}.excluded_rerankers",
            "reranker",
            "registered",
        )
        if variant.model_version:
            validation.identifier(variant.model_version, f"{field}.model_version", limits)
    validation.distinct((v.name for v in experiment.variants), "experiment.variants")
    total = sum(v.share for v in experiment.variants)
    if total > 1 + SHARE_TOLERANCE:
        raise InvalidArgument(
            "experiment.variants", f"shares add up to {total:g}; they may add up to 1 at most"
        )
    window = experiment.attribution_window_seconds
    if not (math.isfinite(window) and 0 < window <= MAX_ATTRIBUTION_WINDOW_SECONDS):
        raise InvalidArgument(
            "experiment.attribution_window", "must be above 0 and at most 90 days"
        )
    return replace(experiment, catalog=catalog)


def _known(names: tuple[str, ...], known: Collection[str], field: str, kind: str, how: str) -> None:
    for position, name in enumerate(names):
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidArgument(
                f"{field}[{position}]", f"unknown {kind} {name!r}; the {how} ones are: {listed}"
            )


def check_can_start(experiment: Experiment) -> None:
    """:raises FailedPrecondition: when the experiment is not a draft."""
    if experiment.status != ExperimentStatus.DRAFT:
        raise FailedPrecondition(
            f"experiment {experiment.name!r} is {experiment.status}; only a draft can start "
            "(create a new experiment to run again)"
        )


def check_can_stop(experiment: Experiment) -> None:
    """:raises FailedPrecondition: when the experiment is not running."""
    if experiment.status != ExperimentStatus.RUNNING:
        raise FailedPrecondition(
            f"experiment {experiment.name!r} is {experiment.status}, not running"
        )


class Definitions:
    """The stored experiments: creates drafts and records their moves."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        strategies: Collection[str],
        rerankers: Collection[str],
    ) -> None:
        self._store = store
        self._settings = settings
        self._strategies = frozenset(strategies)
        self._rerankers = frozenset(rerankers)

    def create(self, experiment: Experiment) -> Experiment:
        """Stores a new experiment as a draft and returns it as stored; an attribution window
        of 0 takes ``experiments.attribution_window_hours``.

        :raises InvalidArgument: for a bad definition (see ``check_definition``), or a model
            version its catalog does not have.
        :raises AlreadyExists: when the name is taken.
        """
        if experiment.attribution_window_seconds == 0:
            default_hours = self._settings.experiments.attribution_window_hours
            experiment = replace(experiment, attribution_window_seconds=3600 * default_hours)
        experiment = check_definition(experiment, self._strategies, self._rerankers, self._settings)
        experiment = replace(
            experiment,
            status=ExperimentStatus.DRAFT,
            created_at=utc_now(),
            started_at=None,
            stopped_at=None,
        )
        for index, variant in enumerate(experiment.variants):
            if variant.model_version and not self._store.model_version(
                experiment.catalog, variant.model_version
            ):
                raise InvalidArgument(
                    f"experiment.variants[{index}].model_version",
                    f"catalog {experiment.catalog!r} has no model version "
                    f"{variant.model_version!r}",
                )
        self._store.create_experiment(experiment)
        return experiment

    def move(self, experiment: Experiment, status: ExperimentStatus) -> Experiment:
        """Records the move to ``status`` (RUNNING from a draft, STOPPED from running) and
        returns the experiment with its status and time stamped.

        :raises FailedPrecondition: when the stored experiment was no longer in the status it
            moves from (another call moved it first).
        """
        now = utc_now()
        if not self._store.set_experiment_status(experiment.name, status, now, _PREVIOUS[status]):
            doing = "starting" if status == ExperimentStatus.RUNNING else "stopping"
            raise FailedPrecondition(f"experiment {experiment.name!r} changed while {doing}")
        if status == ExperimentStatus.RUNNING:
            return replace(experiment, status=status, started_at=now)
        return replace(experiment, status=status, stopped_at=now)

    def find(self, name: str) -> Experiment:
        """The experiment of that name.

        :raises InvalidArgument: when the name is not a valid identifier.
        :raises NotFound: when no experiment has that name.
        """
        validation.identifier(name, "name", self._settings.limits)
        for experiment in self._store.experiments():
            if experiment.name == name:
                return experiment
        raise NotFound(f"no experiment is named {name!r}")

    def all(self) -> list[Experiment]:
        """Every experiment, newest first."""
        return self._store.experiments()
