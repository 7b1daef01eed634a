"""What users did with their items, cached for explanations."""

from __future__ import annotations

from infogap.server.core.models.event_types import CachedEventTypes
from infogap.server.core.store import DuckDBStore
from tests.server.core.store.conformance.builders import events


class CountingStore(DuckDBStore):
    """The real DuckDB store, counting the explanation queries."""

    queries = 0

    def user_item_event_types(self, catalog, user_id, item_ids, types):
        self.queries += 1
        return super().user_item_event_types(catalog, user_id, item_ids, types)


def test_a_user_is_read_once_until_their_next_events(tmp_path):
    store = CountingStore(tmp_path / "data")
    try:
        store.insert_events(
            events(
                {"event_id": "a", "user_id": "u1", "type": "purchase"},
                {"event_id": "b", "user_id": "u1", "item_id": "i2", "type": "rating"},
            )
        )
        cache = CachedEventTypes(store, ["purchase", "rating", "click"], max_users=1)
        assert cache("u1", "c", ["i1", "i2", "i9"]) == {"i1": "purchase", "i2": "rating"}
        assert cache("u1", "c", ["i2", "i1", "i9"]) == {"i2": "rating", "i1": "purchase"}
        assert store.queries == 1
        assert cache("u1", "c", ["i3"]) == {} and store.queries == 2  # a new item: asked
        store.insert_events(events({"event_id": "c", "user_id": "u1", "item_id": "i3"}))
        assert cache("u1", "c", ["i3"]) == {}  # remembered as nothing until forgotten
        cache.forget(["u1"])
        assert cache("u1", "c", ["i3"]) == {"i3": "click"} and store.queries == 3
        cache("u2", "c", ["i1"])  # beyond max_users: u1 is dropped
        cache("u1", "c", ["i3"])
        assert store.queries == 5
    finally:
        store.close()
