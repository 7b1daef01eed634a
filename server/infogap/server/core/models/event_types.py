"""``CachedEventTypes``: what users did with their items, for the reasons of explanations,
kept in memory so that a Recommend pays a store query only the first time a user is explained
(and again after their next events)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from infogap.server.core.metrics import CoreMetrics
from infogap.server.core.store import Store

MAX_CACHED_USERS = 100_000  # least recently explained users are dropped beyond this


class CachedEventTypes:
    """(user, catalog, item ids) -> item id -> the type of the user's latest event with it,
    among ``types``; an ``EventTypesOf`` for the pipeline."""

    def __init__(
        self,
        store: Store,
        types: Sequence[str],
        max_users: int = MAX_CACHED_USERS,
        metrics: CoreMetrics | None = None,
    ):
        """``metrics`` counts lookups answered from memory (hits) and from the store (misses)."""
        self._store = store
        self._metrics = metrics or CoreMetrics()
        self._types = list(types)
        self._max_users = max_users
        self._lock = threading.Lock()
        self._known: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()

    def __call__(self, user_id: str, catalog: str, item_ids: Sequence[str]) -> Mapping[str, str]:
        key = (catalog, user_id)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                missing = [i for i in item_ids if i not in known]
            else:
                known, missing = {}, list(item_ids)
        if not missing:
            self._metrics.event_types_cache_hits.inc()
        else:
            self._metrics.event_types_cache_misses.inc()
            found = self._store.user_item_event_types(catalog, user_id, missing, self._types)
            # Items without an event of the types are remembered as such ("").
            known = {**known, **dict.fromkeys(missing, ""), **found}
            with self._lock:
                self._known[key] = known
                self._known.move_to_end(key)
                while len(self._known) > self._max_users:
                    self._known.popitem(last=False)
        return {item_id: known[item_id] for item_id in item_ids if known.get(item_id)}

    def forget(self, user_ids: Iterable[str]) -> None:
        """Drops what is cached of these users (they have new events, or were erased)."""
        users = set(user_ids)
        with self._lock:
            for key in [k for k in self._known if k[1] in users]:
                del self._known[key]
