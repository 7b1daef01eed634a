"""What serves a catalog: its trained models, its item index and who has seen what.

A ``CatalogServing`` is immutable and replaced whole (one attribute assignment) when a new model
is trained or items change, so a request that took a reference finishes on the version it
started with and never sees a half-built one.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from infogap.server.core.domain import RecommendationFilter, ServingPlan
from infogap.server.core.plugins.protocols import (
    TITLE_ATTRIBUTE,
    ExtensibleModel,
    TrainedModel,
    item_feature_names,
    padded,
)
from infogap.server.core.store import CatalogItems


@dataclass(frozen=True)
class ItemIndex:
    """Items of one training run's index space, with what filters need."""

    item_ids: np.ndarray
    positions: dict[str, int]
    active: np.ndarray  # bool
    tag_positions: dict[str, np.ndarray]
    item_tags: list[tuple[str, ...]]
    features: list[list[str]]  # feature names per item, for models taking in new items
    titles: dict[str, str] = field(default_factory=dict)  # item id -> its "title" attribute

    def tags_of(self, item_id: str) -> tuple[str, ...]:
        position = self.positions.get(item_id)
        return () if position is None else self.item_tags[position]

    def title_of(self, item_id: str) -> str:
        """How a reason names the item: its ``title`` attribute, else its id."""
        return self.titles.get(item_id, item_id)

    @classmethod
    def build(
        cls,
        item_ids: np.ndarray,
        catalog_items: CatalogItems,
        feature_attributes: list[str] | None = None,
        include_new: bool = True,
    ) -> ItemIndex:
        """The index of ``item_ids`` (a training run's index space), followed by the items of
        ``catalog_items`` upserted since unless ``include_new`` is false."""
        known = set(item_ids.tolist())
        added = [i for i in catalog_items.item_ids.tolist() if i not in known]
        if added and include_new:
            item_ids = np.concatenate([item_ids, np.array(added, dtype=object)])
        positions = {item_id: i for i, item_id in enumerate(item_ids.tolist())}
        active = np.ones(len(item_ids), dtype=bool)  # items known only from events are active
        tag_lists: defaultdict[str, list[int]] = defaultdict(list)
        item_tags: list[tuple[str, ...]] = [()] * len(item_ids)
        features: list[list[str]] = [[] for _ in range(len(item_ids))]
        titles: dict[str, str] = {}
        for item_id, tags, attributes, is_active in zip(
            catalog_items.item_ids.tolist(),
            catalog_items.tags,
            catalog_items.attributes,
            catalog_items.active.tolist(),
        ):
            position = positions.get(item_id)
            if position is None:
                continue
            active[position] = is_active
            item_tags[position] = tuple(tags)
            features[position] = item_feature_names(tags, attributes, feature_attributes)
            if attributes.get(TITLE_ATTRIBUTE):
                titles[item_id] = attributes[TITLE_ATTRIBUTE]
            for tag in tags:
                tag_lists[tag].append(position)
        return cls(
            item_ids=item_ids,
            positions=positions,
            active=active,
            tag_positions={tag: np.array(p, dtype=np.int64) for tag, p in tag_lists.items()},
            item_tags=item_tags,
            features=features,
            titles=titles,
        )

    def eligible(self, item_filter: RecommendationFilter) -> np.ndarray:
        """Bool mask of the items that may be returned under ``item_filter`` (a new array)."""
        mask = self.active.copy()
        if item_filter is NO_FILTER:
            return mask
        if item_filter.include_tags:
            included = np.zeros(len(mask), dtype=bool)
            for tag in item_filter.include_tags:
                included[self.tag_positions.get(tag, _NO_POSITIONS)] = True
            mask &= included
        for tag in item_filter.exclude_tags:
            mask[self.tag_positions.get(tag, _NO_POSITIONS)] = False
        for item_id in item_filter.exclude_item_ids:
            position = self.positions.get(item_id)
            if position is not None:
                mask[position] = False
        return mask


_NO_POSITIONS = np.array([], dtype=np.int64)
NO_FILTER = RecommendationFilter()


class FreshInteractions:
    """Items users touched since the serving snapshot's seen-items were read from the store.

    Filled by the event writer after each commit, so exclusion of seen items is immediate;
    entries are pruned once a newer snapshot covers them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)

    def add(self, user_ids: list[str], item_ids: list[str], sequence: int) -> None:
        with self._lock:
            for user_id, item_id in zip(user_ids, item_ids):
                self._items[user_id].append((sequence, item_id))

    def items_of(self, user_id: str) -> list[str]:
        with self._lock:
            entries = self._items.get(user_id)
            return [item_id for _, item_id in entries] if entries else []

    def forget(self, user_id: str) -> int:
        """Drops a user's entries (erasure); returns how many there were."""
        with self._lock:
            return len(self._items.pop(user_id, []))

    def prune(self, up_to_sequence: int) -> None:
        with self._lock:
            for user_id in list(self._items):
                kept = [e for e in self._items[user_id] if e[0] > up_to_sequence]
                if kept:
                    self._items[user_id] = kept
                else:
                    del self._items[user_id]


@dataclass(frozen=True)
class CatalogServing:
    """One catalog's serving state. Never mutated; ``with_items`` makes a new one."""

    catalog: str
    version: str
    models: tuple[TrainedModel, ...]  # in serving (fallback) order
    items: ItemIndex
    seen: dict[str, np.ndarray]  # user id -> item positions, as of ``seen_sequence``
    seen_sequence: int
    fresh: FreshInteractions
    plan: ServingPlan | None = None  # what serves each activity bucket; None: serving order
    # The users the models were trained on; None when not recorded (every user counts as one).
    trained_users: frozenset[str] | None = None
    # Views of this state for experiment variants, by strategies; a new state starts empty.
    _restricted: dict[tuple[str, ...], CatalogServing] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def recent_positions(self, user_id: str) -> np.ndarray:
        """Positions of the items the user touched since the snapshot, oldest first."""
        recent = self.fresh.items_of(user_id)
        if not recent:
            return _NO_POSITIONS
        positions = self.items.positions
        return np.array([positions[i] for i in recent if i in positions], dtype=np.int64)

    def seen_positions(self, user_id: str, recent: np.ndarray | None = None) -> np.ndarray:
        """Items the user interacted with; ``recent`` saves looking up the fresh ones again."""
        base = self.seen.get(user_id, _NO_POSITIONS)
        if recent is None:
            recent = self.recent_positions(user_id)
        return np.concatenate([base, recent]) if len(recent) else base

    def is_new_user(self, user_id: str) -> bool:
        """Whether the user arrived after training: the plan's new-user buckets serve them."""
        return self.trained_users is not None and user_id not in self.trained_users

    def restricted_to(self, strategies: tuple[str, ...]) -> CatalogServing:
        """The same state serving only ``strategies``, in that order (an experiment variant);
        built once per state, as every request of the variant asks for it."""
        view = self._restricted.get(strategies)
        if view is None:
            by_strategy = {model.strategy: model for model in self.models}
            view = replace(
                self, models=tuple(by_strategy[s] for s in strategies if s in by_strategy)
            )
            self._restricted[strategies] = view
        return view

    def with_items(self, items: ItemIndex) -> CatalogServing:
        """The same models over ``items``; items beyond the current index are taken in by each
        model that can (``ExtensibleModel``) and padded to rank last by the others."""
        base_count = len(self.items.item_ids)
        new_count = len(items.item_ids) - base_count
        if new_count == 0:
            return replace(self, items=items)
        new_features = items.features[base_count:]
        models = tuple(
            model.with_new_items(new_features)
            if isinstance(model, ExtensibleModel)
            else padded(model, base_count, new_count)
            for model in self.models
        )
        return replace(self, items=items, models=models)


def seen_index(
    user_ids: np.ndarray, item_ids: np.ndarray, positions: dict[str, int]
) -> dict[str, np.ndarray]:
    """Groups (user, item) pairs into user -> item positions, skipping items outside the index."""
    item_positions = np.array([positions.get(i, -1) for i in item_ids.tolist()], dtype=np.int64)
    known = item_positions >= 0
    users = user_ids[known].astype(str)
    item_positions = item_positions[known]
    order = np.argsort(users, kind="stable")
    users, item_positions = users[order], item_positions[order]
    unique_users, starts = np.unique(users, return_index=True)
    groups = np.split(item_positions, starts[1:])
    return dict(zip(unique_users.tolist(), groups))
