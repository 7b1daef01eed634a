"""``build_core``: the one place the core's parts are built and wired together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from typing import Any

import pyarrow as pa
from prometheus_client import CollectorRegistry
from threadpoolctl import threadpool_limits

from infogap.server.config import Settings
from infogap.server.core.erasure import Erasure
from infogap.server.core.errors import StartupError
from infogap.server.core.evaluation import HistoryEvaluator
from infogap.server.core.experiments.service import Experiments
from infogap.server.core.feedback.ingest import EventWriter
from infogap.server.core.intake.segment import SegmentTranslator
from infogap.server.core.metrics import CoreMetrics, CoreStateCollector
from infogap.server.core.models.artifacts import ArtifactStore
from infogap.server.core.models.event_types import CachedEventTypes
from infogap.server.core.models.exposure import StoredItemFeedback
from infogap.server.core.models.lifecycle import ModelLifecycle
from infogap.server.core.models.pipeline import RecommendationPipeline
from infogap.server.core.models.recommend import Recommendations
from infogap.server.core.models.registry import ServingRegistry
from infogap.server.core.models.retraining import BackgroundRetrainer, SingleFlight
from infogap.server.core.models.shared import SharedModels
from infogap.server.core.models.train import Training
from infogap.server.core.models.training_data import event_type_weights
from infogap.server.core.plugins.host import PluginHost
from infogap.server.core.plugins.protocols import release_through
from infogap.server.core.privacy.ledger import PrivacyLedger
from infogap.server.core.profiles.service import Profiles
from infogap.server.core.replication import ReplicaSync
from infogap.server.core.service import InfoGap
from infogap.server.core.store import Store, open_store

PRIVACY_GUARD = "differential_privacy"  # the built-in plugin privacy.enabled relies on
# The training lock the background retrainer holds: of the replicas sharing a store, one
# retrains in the background (the name cannot be a catalog's: catalogs have no spaces).
BACKGROUND_RETRAINING = "background retraining"


def build_core(
    settings: Settings,
    extra_plugins: Iterable[tuple[str, Any]] = (),
    evaluator: HistoryEvaluator | None = None,
    metrics_registry: CollectorRegistry | None = None,
) -> InfoGap:
    """The core on ``settings.data_dir``, its threads running, its serving state loaded.

    ``extra_plugins`` are (name, plugin) pairs registered beside the installed ones;
    ``evaluator`` answers ``EvaluateModels`` (None: it answers FAILED_PRECONDITION);
    ``metrics_registry`` receives the core's counters and a collector of its state (None:
    nothing is exposed, as with ``telemetry.metrics`` off). When a
    step fails, whatever was started before it is stopped and closed again (threads joined,
    the store closed) before the error propagates.

    :raises StartupError: for a configuration the core refuses (privacy without its guard, a
        bad experiment definition or Segment mapping, a plugin that fails to load or register).
    """
    # BLAS threads per process: concurrent requests each score with one thread.
    threadpool_limits(limits=settings.serving.blas_threads)
    segment_translator = SegmentTranslator(settings.segment, settings.limits, settings.event_types)
    plugins = PluginHost(settings, extra_plugins)
    metrics = CoreMetrics(metrics_registry)
    with ExitStack() as resources:
        store = open_store(settings.store.url, settings.data_dir)
        resources.callback(store.close)
        ledger = PrivacyLedger(store, settings.privacy)
        registrations = plugins.collect_registrations(ledger, StoredItemFeedback(store))
        if settings.privacy.enabled and registrations.privacy_guard is None:
            # Fail closed: privacy asked for but no guard to give it would release raw counts.
            raise StartupError(
                "privacy.enabled is set but no privacy guard is registered "
                f"(the {PRIVACY_GUARD!r} plugin is not loaded)"
            )
        profiles = Profiles(
            store,
            settings,
            registrations.profile_contributors,
            event_type_weights(settings.event_types),
            release_through(registrations.aggregate_stages()),
            metrics,
        )
        attributes = _attributes_of(store)
        lifecycle = ModelLifecycle(
            settings,
            store,
            registrations.trainers,
            registrations.aggregate_stages(),
            profiles.segment_members_of,
            ArtifactStore.from_settings(settings.artifacts),
        )
        # What users did with their items, for the reasons of explanations.
        event_types = CachedEventTypes(store, settings.seen_event_types, metrics=metrics)
        registry = ServingRegistry(
            store,
            lifecycle,
            settings.seen_event_types,
            settings.features.item_attributes,
        )

        def on_stored(events: pa.Table, sequence: int) -> None:
            # Bound late to ``training``, built next: no event is stored before build_core
            # returns, and training reads the writer's sequence.
            users = set(events.column("user_id").to_pylist())
            profiles.invalidate(users)
            event_types.forget(users)
            training.note_stored(events)
            registry.note_stored(events, sequence)

        clusterer = SingleFlight("infogap-clustering", profiles.recompute_clusters)
        resources.callback(clusterer.stop)
        writer = EventWriter(store, on_stored, metrics=metrics)
        resources.callback(writer.close)
        training = Training(
            settings,
            lifecycle,
            registry,
            writer,
            store.last_decisions(),
            attributes,
            clusterer.request,
            store.try_training_lock,
            metrics,
        )
        resources.callback(training.close)
        for trained in lifecycle.load_serving():
            registry.publish(trained, writer.committed_sequence)
        experiments = Experiments(
            store,
            settings,
            registrations.trainers,
            [reranker.name for reranker in registrations.rerankers],
            lambda catalog, variant: registry.prepare_variant(
                catalog, variant, writer.committed_sequence
            ),
            metrics,
        )
        resources.callback(experiments.close)
        experiments.define_from_config(settings.experiments.definitions)
        pipeline = RecommendationPipeline(
            registrations.rerankers,
            attributes,
            profiles.segment_names_of,
            settings.serving.rerank_depth_factor,
            settings.serving.rule_blend_below,
            event_types,
            settings.serving.explanation_evidence,
        )
        retrainer = BackgroundRetrainer(
            training.catalogs_due,
            training.train,
            settings.lifecycle,
            lambda: store.try_training_lock(BACKGROUND_RETRAINING),
        )
        resources.callback(retrainer.stop)
        erasure = Erasure(store, experiments, registry, profiles, training, event_types)
        if settings.store.url:

            def items_written_elsewhere(catalogs: set[str]) -> None:
                # As after an upsert here: new items servable, interests recomputed.
                registry.refresh_items(catalogs)
                profiles.invalidate([])

            # Replicas of a shared store follow each other's events, models and erasures.
            shared_models = SharedModels(
                store, lifecycle, registry, training, lambda: writer.committed_sequence
            )
            replica_sync = ReplicaSync(
                store,
                writer,
                shared_models,
                experiments.follow_store,
                erasure.forget_erased_elsewhere,
                profiles.users_written_elsewhere,
                items_written_elsewhere,
                settings.store,
            )
            replica_sync.start()
            resources.callback(replica_sync.stop)
        core = InfoGap(
            settings,
            store=store,
            writer=writer,
            ledger=ledger,
            profiles=profiles,
            registry=registry,
            training=training,
            recommendations=Recommendations(pipeline, registry, experiments),
            experiments=experiments,
            erasure=erasure,
            plugin_infos=lambda: plugins.plugin_infos(registrations),
            evaluator=evaluator,
            segment_translator=segment_translator,
            resources=resources.pop_all(),
        )
        if metrics_registry is not None:

            def privacy_remaining() -> list[tuple[str, float]]:
                if not settings.privacy.enabled:
                    return []
                catalogs = sorted({info.catalog for info in registry.all_model_infos()})
                return [(catalog, ledger.remaining(catalog)) for catalog in catalogs]

            metrics_registry.register(
                CoreStateCollector(
                    lambda: writer.queue_depth,
                    registry.all_model_infos,
                    privacy_remaining,
                    experiments.running,
                    core.intake.unknown_counts,
                )
            )
    return core


def _attributes_of(store: Store) -> Callable[[str], Mapping[str, str]]:
    """A user's stored attributes by id (none for an unknown user)."""

    def read(user_id: str) -> Mapping[str, str]:
        stored = store.get_user(user_id)
        return stored[0] if stored is not None else {}

    return read
