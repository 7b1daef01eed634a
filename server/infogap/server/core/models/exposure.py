"""``StoredItemFeedback``: the ``ItemFeedback`` rerankers are given, read from the store."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from infogap.server.core.plugins.capabilities import ItemExposure
from infogap.server.core.store import Store


class StoredItemFeedback:
    """Counts impressions, clicks and other events per item with one aggregate query."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def exposure(
        self, catalog: str, impression_types: Sequence[str], click_types: Sequence[str]
    ) -> ItemExposure:
        stored = self._store.catalog_items(catalog).item_ids.tolist()
        counts = self._store.item_event_counts(catalog).to_pylist()
        # Items known only from events count too, after the stored ones.
        item_ids = list(dict.fromkeys([*stored, *(row["item_id"] for row in counts)]))
        index = {item_id: i for i, item_id in enumerate(item_ids)}
        impressions = np.zeros(len(item_ids), dtype=np.int64)
        clicks = np.zeros(len(item_ids), dtype=np.int64)
        other = np.zeros(len(item_ids), dtype=np.int64)
        shown, clicked = set(impression_types), set(click_types)
        for row in counts:
            target = (
                impressions if row["type"] in shown else clicks if row["type"] in clicked else other
            )
            target[index[row["item_id"]]] += row["events"]
        return ItemExposure(np.array(item_ids, dtype=object), impressions, clicks, other)
