"""Item exposure for rerankers, counted from the stored events."""

from __future__ import annotations

from infogap.server.core.domain import Item, utc_now
from infogap.server.core.models.exposure import StoredItemFeedback
from infogap.server.core.store import DuckDBStore
from tests.server.core.store.conformance.builders import events


def test_impressions_clicks_and_other_events_per_item(tmp_path):
    store = DuckDBStore(tmp_path / "data")
    try:
        store.upsert_items([Item("i1", "c"), Item("quiet", "c"), Item("x", "other")], utc_now())
        store.insert_events(
            events(
                {"event_id": "a", "user_id": "u1", "type": "impression"},
                {"event_id": "b", "user_id": "u2", "type": "impression"},
                {"event_id": "c", "user_id": "u1", "type": "click"},
                {"event_id": "d", "user_id": "u1", "type": "purchase"},
                {"event_id": "e", "user_id": "u1", "item_id": "ghost", "type": "view"},
            )
        )
        found = StoredItemFeedback(store).exposure("c", ["impression"], ["click"])
        counts = {
            item: (int(shown), int(clicked), int(other))
            for item, shown, clicked, other in zip(
                found.item_ids.tolist(), found.impressions, found.clicks, found.other_events
            )
        }
        assert counts == {"i1": (2, 1, 1), "quiet": (0, 0, 0), "ghost": (0, 0, 1)}
    finally:
        store.close()
