"""``InfoGap``: the core's use cases, one method per RPC, free of gRPC types.

It owns the store, the event writer, the plugin host and the serving state of every catalog;
everything is passed in or built here, nothing is global.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from infogap.server.config import Settings
from infogap.server.core import validation
from infogap.server.core.domain import (
    ErasureReceipt,
    EventBatch,
    Experiment,
    ExperimentReport,
    Item,
    ModelInfo,
    PluginInfo,
    Profile,
    Recommendation,
    RecommendationFilter,
    RecordResult,
    Segment,
    TrainingDecision,
    TrainReport,
    User,
    UserPatch,
    Variant,
    utc_now,
)
from infogap.server.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    StartupError,
)
from infogap.server.core.experiments.service import Experiments
from infogap.server.core.feedback.ingest import EventWriter, to_arrow
from infogap.server.core.models.pipeline import RecommendationPipeline
from infogap.server.core.models.retraining import BackgroundRetrainer, SingleFlight
from infogap.server.core.models.serving import (
    CatalogServing,
    FreshInteractions,
    ItemIndex,
    seen_index,
)
from infogap.server.core.models.training import ModelLifecycle, ServingModels, TrainedCatalog
from infogap.server.core.models.training_data import event_type_weights
from infogap.server.core.plugins.host import PluginHost
from infogap.server.core.plugins.protocols import ForgetfulModel, release_through
from infogap.server.core.privacy.ledger import PrivacyBudget, PrivacyLedger
from infogap.server.core.profiles.service import Profiles
from infogap.server.core.store import Store

log = logging.getLogger(__name__)

PRIVACY_GUARD = "differential_privacy"  # the built-in plugin privacy.enabled relies on
MAX_EVALUATION_K = 100


class InfoGap:
    """The personalization engine behind the gRPC services."""

    def __init__(self, settings: Settings, extra_plugins: Iterable[tuple[str, Any]] = ()) -> None:
        self.settings = settings
        # BLAS threads per process: concurrent requests each score with one thread.
        threadpool_limits(limits=settings.serving.blas_threads)
        self._plugins = PluginHost(settings, extra_plugins)
        self._store = Store(settings.data_dir)
        self._ledger = PrivacyLedger(self._store, settings.privacy)
        self._registrations = self._plugins.collect_registrations(self._ledger)
        if settings.privacy.enabled and self._registrations.privacy_guard is None:
            # Fail closed: privacy asked for but no guard to give it would release raw counts.
            self._store.close()
            raise StartupError(
                "privacy.enabled is set but no privacy guard is registered "
                f"(the {PRIVACY_GUARD!r} plugin is not loaded)"
            )
        self._profiles = Profiles(
            self._store,
            settings,
            self._registrations.profile_contributors,
            event_type_weights(settings.event_types),
            release_through(self._registrations.aggregate_stages()),
        )
        self._lifecycle = ModelLifecycle(
            settings,
            self._store,
            self._registrations.trainers,
            self._registrations.aggregate_stages(),
            self._profiles.segment_members_of,
        )
        self._pipeline = RecommendationPipeline(
            self._registrations.rerankers,
            self._attributes_of,
            self._profiles.segment_names_of,
            settings.serving.rerank_depth_factor,
            settings.serving.blend_below_interactions,
        )
        self._seen_types = pa.array(
            [name for name, t in settings.event_types.items() if t.marks_seen], pa.string()
        )
        self._fresh: defaultdict[str, FreshInteractions] = defaultdict(FreshInteractions)
        self._serving: dict[str, CatalogServing] = {}
        # Model versions pinned by experiment variants, by (catalog, version).
        self._pinned: dict[tuple[str, str], CatalogServing] = {}
        self._tracked_catalogs: set[str] = set()  # catalogs whose fresh interactions are kept
        self._model_infos: dict[str, list[ModelInfo]] = {}
        self._swap_lock = threading.Lock()
        self._evaluation_lock = threading.Lock()
        self._train_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._decisions: dict[str, TrainingDecision] = self._store.last_decisions()
        self._new_events: defaultdict[str, int] = defaultdict(int)
        self._clusterer = SingleFlight("infogap-clustering", self._profiles.recompute_clusters)
        self._writer = EventWriter(self._store, self._on_events_stored)
        for trained in self._lifecycle.load_serving():
            self._publish(trained, self._writer.committed_sequence)
        self._experiments = Experiments(
            self._store,
            settings,
            self._registrations.trainers,
            [reranker.name for reranker in self._registrations.rerankers],
            self._prepare_variant,
        )
        try:
            self._experiments.define_from_config(settings.experiments.definitions)
        except StartupError:
            self._close_components()
            raise
        self._retrainer = BackgroundRetrainer(self, settings.lifecycle)

    def close(self) -> None:
        self._retrainer.stop()
        self._close_components()

    def _close_components(self) -> None:
        """Stops the background threads, then closes the store they write to."""
        self._experiments.close()
        self._clusterer.stop()
        self._writer.close()
        self._store.close()

    def catalogs_due_for_training(self, interval_elapsed: bool) -> list[str]:
        """Catalogs with enough new events (or any, when the retrain interval has elapsed)."""
        threshold = self.settings.lifecycle.retrain_after_events
        return [
            catalog
            for catalog, count in list(self._new_events.items())
            if count and (interval_elapsed or (threshold is not None and count >= threshold))
        ]

    # -- feedback ----------------------------------------------------------------------------

    def record_events(self, batch: EventBatch) -> RecordResult:
        now = utc_now()
        validation.events(batch, self.settings.event_types, now, self.settings.limits)
        return self._writer.write(to_arrow(batch, now))

    def _on_events_stored(self, events: pa.Table, sequence: int) -> None:
        self._profiles.invalidate(set(events.column("user_id").to_pylist()))
        catalogs = pc.value_counts(events.column("catalog")).to_pylist()
        for entry in catalogs:
            self._new_events[entry["values"]] += entry["counts"]
        # Seen items only matter to catalogs with a model (or one on the way): the first
        # training reads all earlier ones from the store.
        served = pa.array(
            [e["values"] for e in catalogs if e["values"] in self._tracked_catalogs], pa.string()
        )
        if len(served) == 0:
            return
        seen = events.filter(
            pc.and_(
                pc.is_in(events.column("type"), value_set=self._seen_types),
                pc.is_in(events.column("catalog"), value_set=served),
            )
        )
        for catalog, rows in _group_by_catalog(seen).items():
            self._fresh[catalog].add(rows["user_id"], rows["item_id"], sequence)

    # -- profiles ----------------------------------------------------------------------------

    def upsert_users(self, users: list[User]) -> int:
        validation.users(users, self.settings.limits)
        count = self._store.upsert_users(users, utc_now())
        self._profiles.invalidate(u.user_id for u in users)
        return count

    def patch_users(self, patches: list[UserPatch]) -> int:
        validation.patches(patches, self.settings.limits)
        count = self._store.patch_users(patches, utc_now())
        self._profiles.invalidate(p.user_id for p in patches)
        return count

    def upsert_items(self, items: list[Item]) -> int:
        items = validation.items(items, self.settings.limits)
        count = self._store.upsert_items(items, utc_now())
        # Activation and tag changes apply to serving at once, without retraining.
        catalogs = {item.catalog for item in items}
        with self._swap_lock:
            for states in (self._serving, self._pinned):
                for key, serving in list(states.items()):
                    if serving.catalog in catalogs:
                        states[key] = serving.with_items(
                            self._item_index(serving.items.item_ids, serving.catalog)
                        )
        return count

    def profile(self, user_id: str, as_of: datetime | None = None) -> Profile:
        validation.identifier(user_id, "user_id", self.settings.limits)
        return self._profiles.profile(user_id, as_of)

    def profiles(
        self, user_ids: list[str], as_of: datetime | None = None
    ) -> tuple[list[Profile], list[str]]:
        validation.user_ids(user_ids, self.settings.profiles.max_batch_size, self.settings.limits)
        return self._profiles.profiles(user_ids, as_of)

    def define_segment(self, name: str, rule: str, description: str) -> Segment:
        return self._profiles.define_segment(name, rule, description)

    def delete_segment(self, name: str) -> None:
        self._profiles.delete_segment(name)

    def list_segments(self) -> list[Segment]:
        return self._profiles.list_segments()

    def segment_members(self, name: str, page_size: int, page_token: str) -> tuple[list[str], str]:
        return self._profiles.segment_members(name, page_size, page_token)

    def _attributes_of(self, user_id: str) -> Mapping[str, str]:
        stored = self._store.get_user(user_id)
        return stored[0] if stored is not None else {}

    # -- recommendations ---------------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        catalog: str,
        count: int,
        item_filter: RecommendationFilter,
        include_seen: bool,
    ) -> Recommendation:
        validation.identifier(user_id, "user_id", self.settings.limits)
        catalog = validation.catalog_name(catalog)
        count = self._count(count)
        assignment = self._experiments.assign(catalog, user_id)
        if assignment is None:
            return self._pipeline.recommend(
                self._serving_of(catalog), user_id, count, item_filter, include_seen
            )
        recommendation = self._pipeline.recommend(
            self._variant_serving(catalog, assignment.variant),
            user_id,
            count,
            item_filter,
            include_seen,
            blend=assignment.variant.blend,
            excluded_rerankers=assignment.variant.excluded_rerankers,
        )
        return self._experiments.served(recommendation, assignment, user_id, catalog)

    def similar_items(
        self, item_id: str, catalog: str, count: int, item_filter: RecommendationFilter
    ) -> Recommendation:
        validation.identifier(item_id, "item_id", self.settings.limits)
        serving = self._serving_of(validation.catalog_name(catalog))
        return self._pipeline.similar_items(serving, item_id, self._count(count), item_filter)

    def rank_items(self, user_id: str, catalog: str, item_ids: Sequence[str]) -> Recommendation:
        limits = self.settings.limits
        validation.identifier(user_id, "user_id", limits)
        validation.batch_size(len(item_ids), "item_ids", limits)
        for index, item_id in enumerate(item_ids):
            validation.identifier(item_id, f"item_ids[{index}]", limits)
        validation.distinct(item_ids, "item_ids")
        catalog = validation.catalog_name(catalog)
        assignment = self._experiments.assign(catalog, user_id)
        if assignment is None:
            return self._pipeline.rank_items(self._serving_of(catalog), user_id, item_ids)
        serving = self._variant_serving(catalog, assignment.variant)
        recommendation = self._pipeline.rank_items(serving, user_id, item_ids)
        return self._experiments.served(recommendation, assignment, user_id, catalog)

    def _count(self, count: int) -> int:
        if count == 0:
            return self.settings.serving.default_count
        maximum = self.settings.limits.max_recommendations
        if not 1 <= count <= maximum:
            raise InvalidArgument("count", f"must be between 1 and {maximum} (0 means default)")
        return count

    def _variant_serving(self, catalog: str, variant: Variant) -> CatalogServing:
        # A request assigned just before its experiment stopped may find the pinned version
        # gone: it is served as usual.
        pinned = self._pinned.get((catalog, variant.model_version))
        serving = pinned if pinned is not None else self._serving_of(catalog)
        return serving.restricted_to(variant.strategies) if variant.strategies else serving

    def _serving_of(self, catalog: str) -> CatalogServing:
        serving = self._serving.get(catalog)
        if serving is None:
            raise FailedPrecondition(f"catalog {catalog!r} has no trained model; call Train first")
        return serving

    # -- administration ----------------------------------------------------------------------

    def train(self, catalog: str, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        catalog = validation.catalog_name(catalog)
        started = time.perf_counter()
        with self._train_locks[catalog]:
            self._tracked_catalogs.add(catalog)
            # Events committed up to here are in the data the models are trained on.
            sequence = self._writer.committed_sequence
            self._new_events[catalog] = 0
            current = self._serving.get(catalog)
            serving = (
                ServingModels(current.version, current.items.item_ids, current.models)
                if current
                else None
            )
            trained, decision = self._lifecycle.train(
                catalog, serving, self._attributes_of, progress
            )
            if decision.promoted:
                self._publish(trained, sequence)
            self._decisions[catalog] = decision
        if self.settings.profiles.clusters:
            # Data-driven segments follow the data too, without delaying the Train call.
            self._clusterer.request()
        log.info("trained %s: %s", catalog, decision.reason)
        return TrainReport(tuple(trained.infos), time.perf_counter() - started, decision)

    def _publish(self, trained: TrainedCatalog, sequence: int) -> None:
        """Builds the catalog's serving state from a training run and swaps it in."""
        catalog = trained.catalog
        self._tracked_catalogs.add(catalog)
        users, items = self._store.seen_pairs(catalog, self._seen_types.to_pylist())
        with self._swap_lock:
            self._serving[catalog] = self._serving_state(trained, users, items, sequence)
            self._model_infos[catalog] = trained.infos
            # Pinned versions move to the same seen-items snapshot: the fresh interactions
            # they rely on for the rest are pruned up to it below.
            for key, pinned in list(self._pinned.items()):
                if pinned.catalog == catalog:
                    self._pinned[key] = replace(
                        pinned,
                        seen=seen_index(users, items, pinned.items.positions),
                        seen_sequence=sequence,
                    )
        self._fresh[catalog].prune(sequence)

    def _serving_state(
        self, trained: TrainedCatalog, users: np.ndarray, items: np.ndarray, sequence: int
    ) -> CatalogServing:
        trained_items = self._item_index(trained.item_ids, trained.catalog, include_new=False)
        serving = CatalogServing(
            catalog=trained.catalog,
            version=trained.version,
            models=tuple(trained.models),
            items=trained_items,
            seen=seen_index(users, items, trained_items.positions),
            seen_sequence=sequence,
            fresh=self._fresh[trained.catalog],
        )
        # Items upserted since (or while the models were training) are taken in at once.
        return serving.with_items(self._item_index(trained.item_ids, trained.catalog))

    def _prepare_variant(self, catalog: str, variant: Variant) -> None:
        """Makes an experiment variant servable: loads its pinned model version, and checks
        that the strategies it asks for are among that version's models."""
        if not variant.model_version:
            return
        key = (catalog, variant.model_version)
        if key not in self._pinned:
            trained = self._lifecycle.load_version(catalog, variant.model_version)
            self._tracked_catalogs.add(catalog)
            with self._swap_lock:
                # The same snapshot as the catalog's serving state, for the same reason.
                current = self._serving.get(catalog)
                sequence = current.seen_sequence if current else self._writer.committed_sequence
                users, items = self._store.seen_pairs(catalog, self._seen_types.to_pylist())
                self._pinned[key] = self._serving_state(trained, users, items, sequence)
        available = {model.strategy for model in self._pinned[key].models}
        missing = [s for s in variant.strategies if s not in available]
        if missing:
            raise FailedPrecondition(
                f"model version {variant.model_version!r} of {catalog!r} has no "
                f"{', '.join(missing)} model"
            )

    def _item_index(
        self, item_ids: np.ndarray, catalog: str, include_new: bool = True
    ) -> ItemIndex:
        return ItemIndex.build(
            item_ids,
            self._store.catalog_items(catalog),
            self.settings.features.item_attributes,
            include_new,
        )

    def delete_user(self, user_id: str) -> ErasureReceipt:
        """Forgets a user: rows, caches, serving state and model files, then answers."""
        validation.identifier(user_id, "user_id", self.settings.limits)
        self._experiments.forget(user_id)
        removed = dict(self._store.delete_user(user_id))
        if not any(removed.values()):
            raise NotFound(f"user {user_id!r} is unknown")
        removed["model_entries"] = removed["fresh_interactions"] = 0
        to_retrain = set()
        with self._swap_lock:
            for states in (self._serving, self._pinned):
                self._forget_in(states, user_id, removed, to_retrain)
            in_use = (*self._serving.values(), *self._pinned.values())
            self._lifecycle.delete_other_versions({(s.catalog, s.version) for s in in_use})
        self._profiles.invalidate([user_id])
        for catalog in to_retrain:
            log.warning("a model of %r cannot forget users; retraining it", catalog)
            threading.Thread(target=self.train, args=(catalog,), daemon=True).start()
        return ErasureReceipt(user_id, removed, utc_now())

    def _forget_in(
        self,
        states: dict[Any, CatalogServing],
        user_id: str,
        removed: dict[str, int],
        to_retrain: set[str],
    ) -> None:
        """Removes a user from serving states and rewrites their model files (under the swap
        lock), counting into ``removed``; catalogs with a model that cannot forget go to
        ``to_retrain``."""
        for key, serving in list(states.items()):
            models = []
            for model in serving.models:
                if isinstance(model, ForgetfulModel):
                    forgotten = model.without_user(user_id)
                    removed["model_entries"] += forgotten.user_count < model.user_count
                    models.append(forgotten)
                else:
                    models.append(model)
                    to_retrain.add(serving.catalog)
            seen = {u: p for u, p in serving.seen.items() if u != user_id}
            removed["fresh_interactions"] += serving.fresh.forget(user_id)
            states[key] = replace(serving, models=tuple(models), seen=seen)
            self._lifecycle.resave(serving.catalog, serving.version, models)

    def model_info(self, catalog: str) -> tuple[list[ModelInfo], TrainingDecision | None]:
        """The serving models of a catalog and the decision of its latest training run."""
        catalog = validation.catalog_name(catalog)
        infos = self._model_infos.get(catalog)
        if not infos:
            raise NotFound(f"catalog {catalog!r} has no trained model")
        return list(infos), self._decisions.get(catalog)

    def plugins(self) -> list[PluginInfo]:
        return self._plugins.plugin_infos(self._registrations)

    def evaluate_history(
        self,
        catalog: str,
        *,
        split: str,
        k: int,
        candidates: Sequence[str],
        max_users: int,
        seed: int,
        include_privacy: bool,
        progress: Callable[[str], None] = lambda _: None,
    ) -> dict[str, Any]:
        """The offline evaluation report of a catalog's stored history (``infogap eval``'s).
        ``progress`` hears each step, and may raise to abandon the evaluation.

        :raises InvalidArgument: for a bad split, candidate, k or max_users.
        :raises FailedPrecondition: when the history is too small to evaluate.
        :raises ResourceExhausted: while another evaluation runs (each trains several models).
        """
        # Imported here: the evaluation sits above the core, driving throwaway servers.
        from infogap.server.evaluation.runner import evaluate_store

        if not 1 <= k <= MAX_EVALUATION_K:
            raise InvalidArgument("k", f"must be between 1 and {MAX_EVALUATION_K} (0 means 10)")
        if not self._evaluation_lock.acquire(blocking=False):
            raise ResourceExhausted("an evaluation is running already; retry when it has ended")
        try:
            return evaluate_store(
                self._store,
                validation.catalog_name(catalog),
                self.settings,
                k=k,
                split_kind=split,
                seed=seed,
                candidate_keys=list(candidates) or None,
                max_users=max_users,
                include_privacy=include_privacy,
                progress=progress,
            )
        finally:
            self._evaluation_lock.release()

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment) -> Experiment:
        return self._experiments.create(experiment)

    def start_experiment(self, name: str) -> Experiment:
        return self._experiments.start(name)

    def stop_experiment(self, name: str) -> Experiment:
        stopped = self._experiments.stop(name)
        with self._swap_lock:
            in_use = self._experiments.pinned_versions()
            for key in [k for k in self._pinned if k not in in_use]:
                del self._pinned[key]
        return stopped

    def experiments(self) -> list[Experiment]:
        return self._experiments.all()

    def experiment_report(self, name: str) -> ExperimentReport:
        return self._experiments.report(name)

    def privacy_budget(self, catalog: str) -> PrivacyBudget:
        """A catalog's differential-privacy budget in the current window.

        :raises FailedPrecondition: when differential privacy is off.
        """
        if not self.settings.privacy.enabled:
            raise FailedPrecondition("differential privacy is off; set privacy.enabled to use it")
        return self._ledger.report(validation.catalog_name(catalog))


def _group_by_catalog(events: pa.Table) -> dict[str, dict[str, list[str]]]:
    grouped: dict[str, dict[str, list[str]]] = {}
    for catalog, user_id, item_id in zip(
        events.column("catalog").to_pylist(),
        events.column("user_id").to_pylist(),
        events.column("item_id").to_pylist(),
    ):
        rows = grouped.setdefault(catalog, {"user_id": [], "item_id": []})
        rows["user_id"].append(user_id)
        rows["item_id"].append(item_id)
    return grouped
