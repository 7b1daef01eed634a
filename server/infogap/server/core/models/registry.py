"""``ServingRegistry``: what serves each catalog right now, and every change to it.

It holds the serving state of each catalog, the states of model versions pinned by experiment
variants, the fresh interactions (seen since the last training), which catalogs keep them,
and the model infos of the serving versions.

Thread-safety: requests read states without a lock. A ``CatalogServing`` is immutable and
replaced whole by one dictionary assignment, so a request that took one finishes on it. Every
replacement (publishing a training run, loading a pinned version, item changes, forgetting a
user, dropping pinned versions) happens under one swap lock, so two writers never build on the
same old state and lose each other's change. ``FreshInteractions`` has its own lock.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from infogap.server.core.domain import ModelInfo, ServingPlan, Variant
from infogap.server.core.errors import FailedPrecondition
from infogap.server.core.models.lifecycle import ModelLifecycle, ServingModels, TrainedCatalog
from infogap.server.core.models.serving import (
    CatalogServing,
    FreshInteractions,
    ItemIndex,
    seen_index,
)
from infogap.server.core.plugins.protocols import ForgetfulModel
from infogap.server.core.store import Store


class ServingRegistry:
    """The serving state of every catalog and of the model versions experiments pin."""

    def __init__(
        self,
        store: Store,
        lifecycle: ModelLifecycle,
        seen_types: Iterable[str],
        item_attributes: list[str] | None,
    ) -> None:
        """``seen_types`` are the event types that mark an item seen; ``item_attributes`` the
        item attributes models take as features (``features.item_attributes``)."""
        self._store = store
        self._lifecycle = lifecycle
        self._seen_types = pa.array(list(seen_types), pa.string())
        self._item_attributes = item_attributes
        self._fresh: defaultdict[str, FreshInteractions] = defaultdict(FreshInteractions)
        self._serving: dict[str, CatalogServing] = {}
        # Model versions pinned by experiment variants, by (catalog, version).
        self._pinned: dict[tuple[str, str], CatalogServing] = {}
        self._tracked: set[str] = set()  # catalogs whose fresh interactions are kept
        self._model_infos: dict[str, list[ModelInfo]] = {}
        self._swap_lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------

    def serving_of(self, catalog: str) -> CatalogServing:
        """The catalog's serving state.

        :raises FailedPrecondition: when the catalog has no trained model.
        """
        serving = self._serving.get(catalog)
        if serving is None:
            raise FailedPrecondition(f"catalog {catalog!r} has no trained model; call Train first")
        return serving

    def variant_serving(self, catalog: str, variant: Variant) -> CatalogServing:
        """The state serving an experiment variant: its pinned version (or the catalog's),
        restricted to its strategies.

        :raises FailedPrecondition: when the catalog has no trained model.
        """
        # A request assigned just before its experiment stopped may find the pinned version
        # gone: it is served as usual.
        pinned = self._pinned.get((catalog, variant.model_version))
        serving = pinned if pinned is not None else self.serving_of(catalog)
        return serving.restricted_to(variant.strategies) if variant.strategies else serving

    def serving_models(self, catalog: str) -> ServingModels | None:
        """What serves the catalog, for a training run to compare with; None before the first."""
        current = self._serving.get(catalog)
        if current is None:
            return None
        return ServingModels(current.version, current.items.item_ids, current.models, current.plan)

    def serving_plan(self, catalog: str) -> ServingPlan | None:
        """The plan serving the catalog now; None before its first model or without one."""
        current = self._serving.get(catalog)
        return current.plan if current is not None else None

    def model_infos(self, catalog: str) -> list[ModelInfo]:
        """The infos of the catalog's serving models; empty before its first model."""
        return list(self._model_infos.get(catalog, ()))

    def all_model_infos(self) -> list[ModelInfo]:
        """The infos of every catalog's serving models."""
        return [info for infos in list(self._model_infos.values()) for info in infos]

    # -- changes -----------------------------------------------------------------------------

    def track(self, catalog: str) -> None:
        """Keeps the catalog's fresh interactions from now on (its first training is coming)."""
        self._tracked.add(catalog)

    def note_stored(self, events: pa.Table, sequence: int) -> None:
        """Takes the seen items among newly stored ``events`` (commit ``sequence``) into the
        fresh interactions of tracked catalogs."""
        # Seen items only matter to catalogs with a model (or one on the way): the first
        # training reads all earlier ones from the store.
        catalogs = pc.unique(events.column("catalog")).to_pylist()
        served = pa.array([c for c in catalogs if c in self._tracked], pa.string())
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

    def publish(self, trained: TrainedCatalog, sequence: int) -> None:
        """Builds the catalog's serving state from a training run on the data of commits up
        to ``sequence``, and swaps it in."""
        catalog = trained.catalog
        self._tracked.add(catalog)
        users, items = self._seen_pairs(catalog)
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

    def prepare_variant(self, catalog: str, variant: Variant, committed_sequence: int) -> None:
        """Makes an experiment variant servable: loads its pinned model version, and checks
        that the strategies it asks for are among that version's models. A catalog without a
        serving state takes ``committed_sequence`` as the seen-items snapshot's.

        :raises NotFound: when the pinned version is unknown.
        :raises FailedPrecondition: when the version lacks a strategy the variant asks for.
        """
        if not variant.model_version:
            return
        key = (catalog, variant.model_version)
        if key not in self._pinned:
            trained = self._lifecycle.load_version(catalog, variant.model_version)
            self._tracked.add(catalog)
            with self._swap_lock:
                # The same snapshot as the catalog's serving state, for the same reason.
                current = self._serving.get(catalog)
                sequence = current.seen_sequence if current else committed_sequence
                users, items = self._seen_pairs(catalog)
                self._pinned[key] = self._serving_state(trained, users, items, sequence)
        available = {model.strategy for model in self._pinned[key].models}
        missing = [s for s in variant.strategies if s not in available]
        if missing:
            raise FailedPrecondition(
                f"model version {variant.model_version!r} of {catalog!r} has no "
                f"{', '.join(missing)} model"
            )

    def keep_pinned(self, in_use: Callable[[], set[tuple[str, str]]]) -> None:
        """Drops the pinned versions that ``in_use()`` (read under the swap lock) leaves out."""
        with self._swap_lock:
            kept = in_use()
            for key in [k for k in self._pinned if k not in kept]:
                del self._pinned[key]

    def refresh_items(self, catalogs: set[str]) -> None:
        """Rebuilds the item indexes of ``catalogs`` from the store: activation and tag changes
        apply to serving at once, without retraining."""
        with self._swap_lock:
            every: list[dict[Any, CatalogServing]] = [self._serving, self._pinned]
            for states in every:
                for key, serving in list(states.items()):
                    if serving.catalog in catalogs:
                        states[key] = serving.with_items(
                            self._item_index(serving.items.item_ids, serving.catalog)
                        )

    def forget_user(
        self, user_id: str, rewrite_files: bool = True
    ) -> tuple[dict[str, int], set[str]]:
        """Removes a user from every serving state and (``rewrite_files``) rewrites and
        republishes the model files of the versions in use without them, and deletes the other
        versions' files, locally and from the artifact store. A replica forgetting a user
        another one erased leaves the files to that one.

        Returns how many model entries and fresh interactions went, and the catalogs with a
        model that cannot forget (to retrain).
        """
        removed = {"model_entries": 0, "fresh_interactions": 0}
        to_retrain: set[str] = set()
        with self._swap_lock:
            for states in (self._serving, self._pinned):
                self._forget_in(states, user_id, removed, to_retrain, rewrite_files)
            if rewrite_files:
                in_use = (*self._serving.values(), *self._pinned.values())
                self._lifecycle.delete_other_versions({(s.catalog, s.version) for s in in_use})
        return removed, to_retrain

    # -- inside ------------------------------------------------------------------------------

    def _forget_in(
        self,
        states: dict[Any, CatalogServing],
        user_id: str,
        removed: dict[str, int],
        to_retrain: set[str],
        rewrite_files: bool,
    ) -> None:
        """``forget_user`` for one dictionary of states (under the swap lock)."""
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
            trained_users = serving.trained_users
            if trained_users is not None and user_id in trained_users:
                trained_users = trained_users - {user_id}
                if rewrite_files:
                    self._lifecycle.save_users(serving.catalog, serving.version, trained_users)
            states[key] = replace(
                serving, models=tuple(models), seen=seen, trained_users=trained_users
            )
            if rewrite_files:
                self._lifecycle.resave(serving.catalog, serving.version, models)
                # A new manifest and checksum: the other replicas fetch the rewritten files.
                self._lifecycle.republish(serving.catalog, serving.version)

    def _seen_pairs(self, catalog: str) -> tuple[np.ndarray, np.ndarray]:
        return self._store.seen_pairs(catalog, self._seen_types.to_pylist())

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
            plan=trained.plan,
            trained_users=trained.trained_users,
        )
        # Items upserted since (or while the models were training) are taken in at once.
        return serving.with_items(self._item_index(trained.item_ids, trained.catalog))

    def _item_index(
        self, item_ids: np.ndarray, catalog: str, include_new: bool = True
    ) -> ItemIndex:
        return ItemIndex.build(
            item_ids, self._store.catalog_items(catalog), self._item_attributes, include_new
        )


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
