"""What the core counts for ``/metrics``: Prometheus families prefixed ``infogap_``.

``CoreMetrics`` holds the counters and histograms the core's parts move as they work (group
commits, events stored, trainings, cache lookups, experiment exposure); ``CoreStateCollector``
reads, at scrape time, what is a state rather than a count (queue depth, model versions and
ages, privacy budget remaining, running experiments). Both belong to one server's registry,
never the global one, so that several servers in one process keep their figures apart. Nothing
here knows of gRPC.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from infogap.server.core.domain import ModelInfo

GROUP_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 50_000)
COMMIT_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
TRAINING_SECONDS_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class ChildrenByLabels:
    """The children of several families for one set of label values, bound on first use and
    kept: on a hot path, ``labels()`` costs more than the observation itself."""

    def __init__(self, *families: MetricWrapperBase) -> None:
        self._families = families
        self._children: dict[tuple[str, ...], tuple[Any, ...]] = {}

    def __call__(self, *values: str) -> tuple[Any, ...]:
        children = self._children.get(values)
        if children is None:  # a benign race: labels() hands both threads the same children
            children = self._children[values] = tuple(f.labels(*values) for f in self._families)
        return children


class CoreMetrics:
    """The core's counters, in ``registry`` (None: counted but exposed nowhere, as for parts
    built outside a server, or with ``telemetry.metrics`` off)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.events_stored = Counter(
            "infogap_events_stored",
            "Events stored by this server's writer (new event ids).",
            registry=registry,
        )
        self.events_duplicate = Counter(
            "infogap_events_duplicate",
            "Events sent again with an id already stored (or twice in one commit): not stored.",
            registry=registry,
        )
        self.group_commit_events = Histogram(
            "infogap_group_commit_events",
            "Events per group commit: the batches queued since the last commit, stored at once.",
            buckets=GROUP_SIZE_BUCKETS,
            registry=registry,
        )
        self.group_commit_seconds = Histogram(
            "infogap_group_commit_seconds",
            "Time to store one group commit in the store.",
            buckets=COMMIT_SECONDS_BUCKETS,
            registry=registry,
        )
        self.group_commit_failures = Counter(
            "infogap_group_commit_failures",
            "Group commits the store refused (their callers got the error).",
            registry=registry,
        )
        self._trainings = Counter(
            "infogap_trainings",
            "Training runs per catalog by outcome: promoted, kept (the serving models stay), "
            "failed.",
            ["catalog", "outcome"],
            registry=registry,
        )
        self._training_seconds = Histogram(
            "infogap_training_seconds",
            "Duration of training runs per catalog and outcome.",
            ["catalog", "outcome"],
            buckets=TRAINING_SECONDS_BUCKETS,
            registry=registry,
        )
        cache_lookups = Counter(
            "infogap_cache_lookups",
            "Cache lookups by cache (profiles: computed profile facts; event_types: what users "
            "did with recommended items, for reasons) and result (hit, miss); the hit rate is "
            "hit / (hit + miss).",
            ["cache", "result"],
            registry=registry,
        )
        # Children bound once: a label lookup on every Recommend would cost more than the inc.
        self.profile_cache_hits = cache_lookups.labels("profiles", "hit")
        self.profile_cache_misses = cache_lookups.labels("profiles", "miss")
        self.event_types_cache_hits = cache_lookups.labels("event_types", "hit")
        self.event_types_cache_misses = cache_lookups.labels("event_types", "miss")
        self._assignments = Counter(
            "infogap_experiment_assignments",
            "Users assigned to an experiment variant (first time each, per server).",
            ["experiment", "variant"],
            registry=registry,
        )
        lists = Counter(
            "infogap_experiment_recommendations",
            "Recommendation lists (Recommend and RankItems answers) served to users in an "
            "experiment, per variant.",
            ["experiment", "variant"],
            registry=registry,
        )
        impressions = Counter(
            "infogap_experiment_impressions",
            "Items served in those lists, per experiment and variant.",
            ["experiment", "variant"],
            registry=registry,
        )
        self._served = ChildrenByLabels(lists, impressions)

    def training_finished(self, catalog: str, outcome: str, seconds: float) -> None:
        """Counts one training run: ``outcome`` is promoted, kept or failed."""
        self._trainings.labels(catalog, outcome).inc()
        self._training_seconds.labels(catalog, outcome).observe(seconds)

    def assigned(self, experiment: str, variant: str) -> None:
        """A user met an experiment's variant for the first time on this server."""
        self._assignments.labels(experiment, variant).inc()

    def served(self, experiment: str, variant: str, items: int) -> None:
        """A variant served one recommendation list of ``items`` items."""
        lists, impressions = self._served(experiment, variant)
        lists.inc()
        impressions.inc(items)


class CoreStateCollector(Collector):
    """Reads the core's state when ``/metrics`` is scraped; each reader is a cheap call of a
    part ``build_core`` wired (no store query but the privacy budget's, one per catalog)."""

    def __init__(
        self,
        queue_depth: Callable[[], int],
        serving_models: Callable[[], Iterable[ModelInfo]],
        privacy_remaining: Callable[[], Iterable[tuple[str, float]]],
        running_experiments: Callable[[], Iterable[tuple[str, str]]],
        unknown_intake_events: Callable[[], Mapping[str, int]],
    ) -> None:
        """``privacy_remaining`` yields (catalog, epsilon remaining), nothing when privacy is
        off; ``running_experiments`` yields (experiment, catalog); ``unknown_intake_events``
        counts the CDP event names without a mapping, by name (``core.intake``)."""
        self._queue_depth = queue_depth
        self._serving_models = serving_models
        self._privacy_remaining = privacy_remaining
        self._running_experiments = running_experiments
        self._unknown_intake_events = unknown_intake_events

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "infogap_ingest_queue_depth",
            "Event batches waiting for the writer's next group commit.",
            value=self._queue_depth(),
        )
        versions = GaugeMetricFamily(
            "infogap_model_info",
            "The model version serving each catalog and strategy (value 1).",
            labels=["catalog", "strategy", "version"],
        )
        ages = GaugeMetricFamily(
            "infogap_model_age_seconds",
            "Seconds since the serving model of each catalog and strategy was trained.",
            labels=["catalog", "strategy"],
        )
        now = time.time()
        for info in self._serving_models():
            versions.add_metric([info.catalog, info.strategy, info.version], 1)
            ages.add_metric([info.catalog, info.strategy], now - _epoch_seconds(info.trained_at))
        yield versions
        yield ages
        budget = GaugeMetricFamily(
            "infogap_privacy_budget_remaining_epsilon",
            "Epsilon each catalog can still spend in the current privacy window.",
            labels=["catalog"],
        )
        for catalog, remaining in self._privacy_remaining():
            budget.add_metric([catalog], remaining)
        yield budget
        running = GaugeMetricFamily(
            "infogap_experiment_running",
            "Experiments running now, with their catalog (value 1).",
            labels=["experiment", "catalog"],
        )
        for experiment, catalog in self._running_experiments():
            running.add_metric([experiment, catalog], 1)
        yield running
        unknown = CounterMetricFamily(
            "infogap_intake_unknown_events",
            "Segment-spec track events received with a name no mapping knows, by name "
            "(not stored; at most 1,000 names are kept).",
            labels=["name"],
        )
        for name, count in self._unknown_intake_events().items():
            unknown.add_metric([name], count)
        yield unknown


def _epoch_seconds(moment: datetime) -> float:
    # The domain's datetimes are naive UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
