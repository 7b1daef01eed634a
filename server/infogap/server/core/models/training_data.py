"""Builds a catalog's ``TrainingData`` from the store: aggregation happens in DuckDB, id
mapping and matrix building in numpy, with no Python loop over events."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from infogap.server.config import EventTypeSettings, Settings
from infogap.server.core.plugins.protocols import (
    FeatureMatrix,
    TimedEvents,
    TrainingData,
    item_feature_names,
    no_timed_events,
    user_feature_names,
)
from infogap.server.core.store import Store


def event_type_weights(event_types: dict[str, EventTypeSettings]) -> pa.Table:
    """The event-type weight table the store's aggregation joins against."""
    return pa.table(
        {
            "type": list(event_types),
            "weight": [t.weight for t in event_types.values()],
            "positive_from": pa.array(
                [t.positive_from for t in event_types.values()], pa.float64()
            ),
        }
    )


def load_training_data(
    store: Store,
    catalog: str,
    settings: Settings,
    segments_of: Callable[[Sequence[str]], dict[str, list[str]]] = lambda _: {},
) -> TrainingData:
    features = settings.features
    interactions = store.interactions(
        catalog,
        event_type_weights(settings.event_types),
        settings.training.time_decay_half_life_days,
    )
    catalog_items = store.catalog_items(catalog)

    user_ids, user_rows = np.unique(interactions.user_ids.astype(str), return_inverse=True)
    # Items of the items table first (in its order), then items known only from events.
    known = catalog_items.item_ids.astype(str)
    event_only = np.setdiff1d(interactions.item_ids.astype(str), known)
    item_ids = np.concatenate([known, event_only])
    item_order = np.argsort(item_ids)
    item_cols = item_order[
        np.searchsorted(item_ids, interactions.item_ids.astype(str), sorter=item_order)
    ]

    matrix = sp.coo_matrix(
        (interactions.weights, (user_rows, item_cols)),
        shape=(len(user_ids), len(item_ids)),
        dtype=np.float32,
    )

    times = None
    if interactions.last_time_us is not None:
        times = sp.coo_matrix(
            (interactions.last_time_us.astype(np.float64), (user_rows, item_cols)),
            shape=matrix.shape,
        )

    attributes = store.user_attributes(user_ids.tolist())
    user_features = FeatureMatrix.from_rows(
        [user_feature_names(attributes.get(u, {}), features.user_attributes) for u in user_ids]
    )
    item_rows = [
        item_feature_names(tags, attrs, features.item_attributes)
        for tags, attrs in zip(catalog_items.tags, catalog_items.attributes)
    ] + [[] for _ in event_only]
    item_features = FeatureMatrix.from_rows(item_rows)

    def load_timed_positives() -> TimedEvents:
        if not len(user_ids):
            return no_timed_events()
        table = store.weighted_events(catalog, event_type_weights(settings.event_types))
        positive = table.column("positive").to_numpy(zero_copy_only=False).astype(bool)
        users = table.column("user_id").to_numpy(zero_copy_only=False).astype(str)[positive]
        items = table.column("item_id").to_numpy(zero_copy_only=False).astype(str)[positive]
        times = table.column("time_us").to_numpy(zero_copy_only=False)[positive]
        rows = np.minimum(np.searchsorted(user_ids, users), len(user_ids) - 1)
        columns = item_order[
            np.minimum(np.searchsorted(item_ids, items, sorter=item_order), len(item_ids) - 1)
        ]
        # Users whose signals summed to nothing are not in user_ids: their events are dropped.
        kept = (user_ids[rows] == users) & (item_ids[columns] == items)
        return TimedEvents(
            rows[kept].astype(np.int64),
            columns[kept].astype(np.int64),
            times[kept].astype(np.int64),
        )

    memberships = segments_of(user_ids.tolist())
    user_segments = FeatureMatrix.from_rows([memberships.get(u, []) for u in user_ids])

    return TrainingData(
        catalog=catalog,
        user_ids=user_ids.astype(object),
        item_ids=item_ids.astype(object),
        interactions=matrix,
        user_features=user_features,
        item_features=item_features,
        event_count=interactions.event_count,
        user_segments=user_segments,
        interaction_times=times,
        load_timed_positives=load_timed_positives,
    )
