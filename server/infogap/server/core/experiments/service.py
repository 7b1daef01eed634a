"""Online experiments: definitions and their lifecycle, assignment of users to variants, the log
of what each variant served, and the report that compares variants on attributed feedback.

Assignment hashes the experiment name with the user id, so it needs no stored state: every
replica and every restart puts a user in the same variant. At most one experiment runs per
catalog at a time, so two experiments never split the same traffic differently.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from infogap.server.config import ExperimentDefinition, Settings
from infogap.server.core import validation
from infogap.server.core.domain import (
    Experiment,
    ExperimentReport,
    Recommendation,
    Variant,
    VariantResult,
    utc_now,
)
from infogap.server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InfoGapError,
    InvalidArgument,
    NotFound,
    StartupError,
)
from infogap.server.core.experiments.stats import (
    compare,
    mean_estimate,
    ratio_estimate,
    sample_ratio_p_value,
)
from infogap.server.core.store import IMPRESSION_SCHEMA, Store

log = logging.getLogger(__name__)

METRICS = ("ctr", "conversion_rate", "revenue_per_user")
METRIC_LABELS = {
    "ctr": "CTR",
    "conversion_rate": "conversion rate",
    "revenue_per_user": "revenue per user",
}
MAX_VARIANTS = 10
MAX_ATTRIBUTION_WINDOW_SECONDS = 90 * 86_400.0
SHARE_TOLERANCE = 1e-9  # shares summing to 1 in floating point may come out a hair above
MAX_DESCRIPTION_LENGTH = 1024


def assignment_point(experiment: str, user_id: str) -> float:
    """Where a user falls in [0, 1) for an experiment: SHA-256 of the name and the id, so the
    same everywhere and independent between experiments."""
    digest = hashlib.sha256(f"{experiment}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, user_id: str) -> Variant | None:
    """The user's variant; None when the shares add up to less than 1 and the user falls in
    the rest, outside the experiment."""
    point = assignment_point(experiment.name, user_id)
    upper = 0.0
    for variant in experiment.variants:
        upper += variant.share
        if point < upper:
            return variant
    return None


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: Experiment
    variant: Variant


class RunningExperiment:
    """A running experiment and the assignments computed so far. Recommend's throughput is
    bound by the Python work per call, so a returning user's variant is a dict lookup."""

    MAX_CACHED_USERS = 100_000  # then the cache starts over: 15 MB with 14-character ids

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self._assignments: dict[str, Assignment | None] = {}

    def assignment(self, user_id: str) -> Assignment | None:
        try:
            return self._assignments[user_id]
        except KeyError:
            pass
        variant = assign(self.experiment, user_id)
        found = None if variant is None else Assignment(self.experiment, variant)
        if len(self._assignments) >= self.MAX_CACHED_USERS:
            self._assignments = {}
        self._assignments[user_id] = found
        return found

    def forget(self, user_id: str) -> None:
        self._assignments.pop(user_id, None)


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


class ImpressionLog:
    """Writes the lists served inside experiments to the store in the background, so the
    request path only appends to a buffer. A crash loses at most the last flush interval."""

    def __init__(self, store: Store, flush_seconds: float) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        # deque's append and popleft are atomic: request threads never wait on a lock here.
        self._buffer: deque[tuple] = deque()
        self._flush_lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="infogap-impression-log", daemon=True
        )
        self._thread.start()

    def log(self, recommendation: Recommendation, user_id: str, catalog: str) -> None:
        row = (
            recommendation.recommendation_id,
            recommendation.experiment,
            recommendation.variant,
            user_id,
            catalog,
            [item.item_id for item in recommendation.items],
            time.time_ns() // 1000,  # UTC microseconds, what the served_at column takes
        )
        self._buffer.append(row)

    def flush(self) -> None:
        """Writes everything logged so far; on return it is in the store."""
        with self._flush_lock:
            rows = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if rows:
                columns = list(zip(*rows))
                self._store.insert_impressions(
                    pa.table(
                        [pa.array(c, type=f.type) for c, f in zip(columns, IMPRESSION_SCHEMA)],
                        schema=IMPRESSION_SCHEMA,
                    )
                )

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._closing.wait(self._flush_seconds):
            try:
                self.flush()
            except Exception:  # the next flush retries; serving must not stop for it
                log.exception("writing impressions failed")


class Experiments:
    """Defines, starts, stops, assigns and reports experiments."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        strategies: Collection[str],
        rerankers: Collection[str],
        prepare_variant: Callable[[str, Variant], None],
    ) -> None:
        """``prepare_variant(catalog, variant)`` makes a variant servable (e.g. loads a pinned
        model version) or raises ``FailedPrecondition``/``NotFound`` saying why it cannot be."""
        self._store = store
        self._settings = settings
        self._strategies = frozenset(strategies)
        self._rerankers = frozenset(rerankers)
        self._prepare_variant = prepare_variant
        self._lock = threading.Lock()
        self._running: dict[str, RunningExperiment] = {}  # by catalog
        self._impressions = ImpressionLog(store, settings.experiments.impression_flush_seconds)
        for experiment in store.experiments():
            if experiment.status == "running":
                self._resume(experiment)

    def _resume(self, experiment: Experiment) -> None:
        """Serves a running experiment again after a restart; one that can no longer be served
        (a pinned model's files are gone) is stopped, loudly, rather than left half-running."""
        try:
            self._prepare(experiment)
        except (FailedPrecondition, NotFound) as error:
            log.error("stopping experiment %r: %s", experiment.name, error.message)
            self._store.set_experiment_status(experiment.name, "stopped", utc_now(), "running")
            return
        self._running[experiment.catalog] = RunningExperiment(experiment)

    def close(self) -> None:
        self._impressions.close()

    def define_from_config(self, definitions: list[ExperimentDefinition]) -> None:
        """Creates the configured experiments not stored yet, and starts those marked so.

        :raises StartupError: naming the definition, when one is invalid or cannot start.
        """
        for definition in definitions:
            try:
                self._define(definition)
            except InfoGapError as error:
                raise StartupError(
                    f"experiments.definitions {definition.name!r}: {error.message}"
                ) from error

    def _define(self, definition: ExperimentDefinition) -> None:
        experiment = Experiment(
            name=definition.name,
            catalog=definition.catalog,
            description=definition.description,
            variants=tuple(
                Variant(
                    v.name,
                    v.share,
                    tuple(v.strategies),
                    v.blend,
                    v.model_version,
                    tuple(v.excluded_rerankers),
                )
                for v in definition.variants
            ),
            attribution_window_seconds=3600 * (definition.attribution_window_hours or 0),
        )
        # A stored experiment of that name stands: the config defines, it never redefines.
        with contextlib.suppress(AlreadyExists):
            self.create(experiment)
        if definition.start and self._find(definition.name).status == "draft":
            self.start(definition.name)

    # -- serving -----------------------------------------------------------------------------

    def assign(self, catalog: str, user_id: str) -> Assignment | None:
        """The running experiment of the catalog and the user's variant in it, if any."""
        running = self._running.get(catalog)
        return None if running is None else running.assignment(user_id)

    def served(
        self, recommendation: Recommendation, assignment: Assignment, user_id: str, catalog: str
    ) -> Recommendation:
        """The recommendation labelled with its experiment and variant, its list logged."""
        # Built directly: dataclasses.replace costs several microseconds on the request path.
        labelled = Recommendation(
            recommendation.recommendation_id,
            recommendation.items,
            recommendation.model_version,
            recommendation.strategy,
            assignment.experiment.name,
            assignment.variant.name,
        )
        self._impressions.log(labelled, user_id, catalog)
        return labelled

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

        :raises InvalidArgument: for a bad definition (see ``check_definition``).
        :raises AlreadyExists: when the name is taken.
        """
        if experiment.attribution_window_seconds == 0:
            default_hours = self._settings.experiments.attribution_window_hours
            experiment = replace(experiment, attribution_window_seconds=3600 * default_hours)
        experiment = check_definition(experiment, self._strategies, self._rerankers, self._settings)
        experiment = replace(
            experiment, status="draft", created_at=utc_now(), started_at=None, stopped_at=None
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

    def start(self, name: str) -> Experiment:
        """Starts a draft; from now its catalog's traffic is split between its variants.

        :raises NotFound: when no experiment has that name.
        :raises FailedPrecondition: when it is not a draft, another experiment runs on its
            catalog, or a variant cannot be served.
        """
        with self._lock:
            experiment = self._find(name)
            if experiment.status != "draft":
                raise FailedPrecondition(
                    f"experiment {name!r} is {experiment.status}; only a draft can start "
                    "(create a new experiment to run again)"
                )
            other = self._running.get(experiment.catalog)
            if other is not None:
                raise FailedPrecondition(
                    f"experiment {other.experiment.name!r} is running on catalog "
                    f"{experiment.catalog!r}; stop it first"
                )
            self._prepare(experiment)
            now = utc_now()
            if not self._store.set_experiment_status(name, "running", now, "draft"):
                raise FailedPrecondition(f"experiment {name!r} changed while starting")
            started = replace(experiment, status="running", started_at=now)
            self._running[experiment.catalog] = RunningExperiment(started)
            return started

    def stop(self, name: str) -> Experiment:
        """Stops a running experiment: its catalog is served as usual again.

        :raises NotFound: when no experiment has that name.
        :raises FailedPrecondition: when it is not running.
        """
        with self._lock:
            experiment = self._find(name)
            if experiment.status != "running":
                raise FailedPrecondition(f"experiment {name!r} is {experiment.status}, not running")
            now = utc_now()
            self._store.set_experiment_status(name, "stopped", now, "running")
            self._running.pop(experiment.catalog, None)
            self._impressions.flush()
            return replace(experiment, status="stopped", stopped_at=now)

    def all(self) -> list[Experiment]:
        return self._store.experiments()

    def _find(self, name: str) -> Experiment:
        validation.identifier(name, "name", self._settings.limits)
        for experiment in self._store.experiments():
            if experiment.name == name:
                return experiment
        raise NotFound(f"no experiment is named {name!r}")

    def _prepare(self, experiment: Experiment) -> None:
        for variant in experiment.variants:
            self._prepare_variant(experiment.catalog, variant)

    # -- reporting ---------------------------------------------------------------------------

    def report(self, name: str) -> ExperimentReport:
        """Per-variant exposure and attributed feedback, each variant against the control.

        :raises NotFound: when no experiment has that name.
        """
        experiment = self._find(name)
        settings = self._settings.experiments
        self._impressions.flush()
        outcomes = self._store.experiment_outcomes(
            name,
            click_types=settings.click_types,
            conversion_types=settings.conversion_types,
            window_seconds=experiment.attribution_window_seconds,
            skew_seconds=self._settings.limits.max_clock_skew_seconds,
        )
        treatments = max(len(experiment.variants) - 1, 1)
        alpha = settings.significance_level / treatments
        results: list[VariantResult] = []
        for variant in experiment.variants:
            rows = outcomes.filter(pc.equal(outcomes.column("variant"), variant.name))
            column = {
                outcome: rows.column(outcome).to_numpy().astype(float)
                for outcome in ("lists", "impressions", "clicks", "conversions", "revenue")
            }
            estimates = {
                "ctr": ratio_estimate(column["clicks"], column["impressions"]),
                "conversion_rate": mean_estimate((column["conversions"] > 0).astype(float)),
                "revenue_per_user": mean_estimate(column["revenue"]),
            }
            comparisons = ()
            if results:
                control = results[0]
                comparisons = tuple(
                    compare(metric, getattr(control, metric), estimates[metric], alpha)
                    for metric in METRICS
                )
            results.append(
                VariantResult(
                    variant=variant.name,
                    share=variant.share,
                    users=len(rows),
                    recommendations=int(column["lists"].sum()),
                    impressions=int(column["impressions"].sum()),
                    clicks=int(column["clicks"].sum()),
                    conversions=int(column["conversions"].sum()),
                    revenue=float(column["revenue"].sum()),
                    comparisons=comparisons,
                    **estimates,
                )
            )
        srm_p = sample_ratio_p_value(
            [r.users for r in results], [v.share for v in experiment.variants]
        )
        mismatch = not np.isnan(srm_p) and srm_p < settings.sample_ratio_p_value
        winner, conclusion = _verdict(results, settings.primary_metric, mismatch, srm_p)
        return ExperimentReport(
            experiment=experiment,
            variants=tuple(results),
            primary_metric=settings.primary_metric,
            significance_level=settings.significance_level,
            sample_ratio_p_value=srm_p,
            sample_ratio_mismatch=mismatch,
            winner=winner,
            conclusion=conclusion,
            generated_at=utc_now(),
        )


def _verdict(
    results: list[VariantResult], metric: str, mismatch: bool, srm_p: float
) -> tuple[str, str]:
    """The winner on the primary metric (or "") and a sentence saying why."""
    label = METRIC_LABELS[metric]
    if not results or results[0].users == 0:
        return "", "No traffic yet: nothing to compare."
    if mismatch:
        return "", (
            f"Sample ratio mismatch (p = {srm_p:.2g}): users per variant do not match the "
            "configured shares, so no winner is called. Find the cause (assignment, logging, "
            "filtering) before trusting any figure."
        )
    control = results[0]
    compared = [(r, next(c for c in r.comparisons if c.metric == metric)) for r in results[1:]]
    better = [(r, c) for r, c in compared if c.significant and c.relative_lift > 0]
    if better:
        winner, comparison = max(better, key=lambda pair: pair[1].relative_lift)
        return winner.variant, (
            f"{winner.variant} wins on {label}: {comparison.relative_lift:+.1%} against "
            f"{control.variant} (95% CI {comparison.lift_low:+.1%} to {comparison.lift_high:+.1%}, "
            f"p = {comparison.p_value:.2g})."
        )
    if compared and all(c.significant and c.relative_lift < 0 for _, c in compared):
        return control.variant, (
            f"{control.variant} (the control) wins on {label}: every other variant is "
            "significantly worse."
        )
    smallest = min(
        (c.p_value for _, c in compared if not math.isnan(c.p_value)), default=float("nan")
    )
    return "", (
        f"No significant difference in {label} between the variants and {control.variant} "
        f"(smallest p = {smallest:.2g}); keep the control or collect more traffic."
    )
