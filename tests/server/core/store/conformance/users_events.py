"""Store conformance: lifecycle, users and items, and the event log."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from infogap.server.core.domain import CatalogEventCounts, Item, User, UserPatch
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.store import Store
from tests.server.core.store.conformance.builders import (
    DAY,
    T0,
    TYPE_WEIGHTS,
    Backend,
    events,
    pairs,
)


class UsersItemsAndEvents:
    # -- lifecycle ----------------------------------------------------------------------

    def test_data_dir_is_a_folder(self, store: Store) -> None:
        assert isinstance(store.data_dir, Path) and store.data_dir.is_dir()

    def test_data_survives_close_and_reopen(self, backend: Backend, tmp_path: Path) -> None:
        first = backend(tmp_path / "kept")
        first.upsert_users([User("u1", {"a": "1"})], T0)
        first.insert_events(events({"event_id": "e1", "user_id": "u1"}))
        first.close()
        again = backend(tmp_path / "kept")
        try:
            assert again.get_user("u1") == ({"a": "1"}, T0)
            assert again.insert_events(events({"event_id": "e1", "user_id": "u1"})) == set()
        finally:
            again.close()

    # -- users and items ----------------------------------------------------------------

    def test_upsert_users_replaces_attributes_whole(self, store: Store) -> None:
        assert store.upsert_users([User("u1", {"a": "1", "b": "2"}), User("u2", {})], T0) == 2
        assert store.upsert_users([User("u1", {"c": "3"})], T0 + DAY) == 1
        assert store.get_user("u1") == ({"c": "3"}, T0 + DAY)
        assert store.get_user("u2") == ({}, T0)
        assert store.get_user("nobody") is None

    def test_patch_users_sets_unsets_and_creates(self, store: Store) -> None:
        store.upsert_users([User("u1", {"a": "1", "b": "2"})], T0)
        patches = [
            UserPatch("u1", {"b": "20", "c": "3"}, ("a", "never-set")),
            UserPatch("u9", {"x": "1"}, ("y",)),
        ]
        assert store.patch_users(patches, T0 + DAY) == 2
        assert store.get_user("u1") == ({"b": "20", "c": "3"}, T0 + DAY)
        assert store.get_user("u9") == ({"x": "1"}, T0 + DAY)

    def test_user_lookups(self, store: Store) -> None:
        store.upsert_users([User("u1", {"a": "1"}), User("u2", {"b": "2"})], T0)
        store.insert_events(events({"event_id": "e1", "user_id": "u3"}))
        assert store.get_user("u3") is None  # known from events only
        assert store.user_attributes(["u2", "u3", "u1"]) == {"u1": {"a": "1"}, "u2": {"b": "2"}}
        assert store.user_attributes([]) == {}
        assert store.user_records(None) == {"u1": ({"a": "1"}, T0), "u2": ({"b": "2"}, T0)}
        assert store.user_records(["u2", "u3"]) == {"u2": ({"b": "2"}, T0)}

    def test_catalog_items_by_id_per_catalog(self, store: Store) -> None:
        store.upsert_items(
            [
                Item("b", "c", {"year": "1990"}, ("x", "y"), False),
                Item("a", "c", {}, ("old",), True),
                Item("a", "other", {"k": "v"}),
            ],
            T0,
        )
        assert store.upsert_items([Item("a", "c", {"genre": "z"}, ("new",))], T0) == 1
        found = store.catalog_items("c")
        assert found.item_ids.dtype == object and found.item_ids.tolist() == ["a", "b"]
        assert found.tags == [["new"], ["x", "y"]]
        assert found.attributes == [{"genre": "z"}, {"year": "1990"}]
        assert found.active.dtype == bool and found.active.tolist() == [True, False]
        empty = store.catalog_items("none")
        assert empty.item_ids.tolist() == [] and empty.tags == [] and empty.active.tolist() == []

    # -- events -------------------------------------------------------------------------

    def test_insert_events_is_idempotent_by_event_id(self, store: Store) -> None:
        first = events({"event_id": "e1", "user_id": "u1"}, {"event_id": "e2", "user_id": "u1"})
        assert store.insert_events(first) == {"e1", "e2"}
        retry = events(
            {"event_id": "e2", "user_id": "u1", "value": 99.0},
            {"event_id": "e3", "user_id": "u2", "type": "purchase", "value": 7.0},
        )
        assert store.insert_events(retry) == {"e3"}
        assert store.insert_events(retry) == set()
        stored = store.weighted_events("c", TYPE_WEIGHTS)
        assert stored.column("value").to_pylist() == [1.0, 1.0, 7.0]  # e2 kept as first stored

    def test_insert_events_refuses_a_repeated_id_and_stores_nothing(self, store: Store) -> None:
        batch = events({"event_id": "e1", "user_id": "u1"}, {"event_id": "e1", "user_id": "u2"})
        with pytest.raises(InvalidArgument):
            store.insert_events(batch)
        assert store.weighted_events("c", TYPE_WEIGHTS).num_rows == 0

    def test_concurrent_inserts_all_land(self, store: Store) -> None:
        def insert(thread: int) -> None:
            for n in range(5):
                store.insert_events(events({"event_id": f"t{thread}-{n}", "user_id": "u"}))

        threads = [threading.Thread(target=insert, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.weighted_events("c", TYPE_WEIGHTS).num_rows == 20

    def test_event_counts_per_catalog_and_since_a_time(self, store: Store) -> None:
        assert store.event_counts(T0) == []
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "received_at": T0 - DAY},
                {"event_id": "e2", "user_id": "u1", "received_at": T0},  # at the bound: counted
                {"event_id": "e3", "user_id": "u2", "catalog": "b", "received_at": T0 + DAY},
                {"event_id": "e4", "user_id": "u2", "catalog": "b", "received_at": T0 - DAY},
            )
        )
        assert store.event_counts(T0) == [
            CatalogEventCounts("b", 2, 1),
            CatalogEventCounts("c", 2, 1),
        ]
        assert store.event_counts(T0 + 2 * DAY) == [
            CatalogEventCounts("b", 2, 0),
            CatalogEventCounts("c", 2, 0),
        ]

    def test_interactions_sum_weights_and_drop_non_positive_pairs(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "item_id": "i1"},
                {"event_id": "e2", "user_id": "u1", "item_id": "i1"},
                {"event_id": "e3", "user_id": "u1", "item_id": "i2", "type": "rating", "value": 5},
                {"event_id": "e4", "user_id": "u2", "item_id": "i1", "type": "rating", "value": 3},
                {"event_id": "e5", "user_id": "u2", "item_id": "i3", "type": "view"},
                {"event_id": "e6", "user_id": "u2", "item_id": "i1", "catalog": "other"},
                {"event_id": "e7", "user_id": "u3", "item_id": "i4", "type": "purchase"},
            )
        )
        found = store.interactions("c", TYPE_WEIGHTS)
        assert found.weights.dtype == np.float32
        triples = zip(found.user_ids.tolist(), found.item_ids.tolist(), found.weights.tolist())
        assert sorted(triples) == [("u1", "i1", 2.0), ("u1", "i2", 2.0), ("u3", "i4", 5.0)]
        assert found.event_count == 5  # e1-e4 and e7: weighted types of the catalog
        empty = store.interactions("none", TYPE_WEIGHTS)
        assert empty.user_ids.tolist() == [] and empty.event_count == 0

    def test_interactions_carry_each_pairs_latest_event_time(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u", "item_id": "a", "event_time": T0 - DAY},
                {"event_id": "e2", "user_id": "u", "item_id": "a", "event_time": T0},
                {"event_id": "e3", "user_id": "u", "item_id": "b", "event_time": T0 - 2 * DAY},
            )
        )
        found = store.interactions("c", TYPE_WEIGHTS)
        assert found.last_time_us is not None and found.last_time_us.dtype == np.int64
        by_item = dict(zip(found.item_ids.tolist(), found.last_time_us.tolist()))
        micro = timedelta(microseconds=1)
        epoch = datetime(1970, 1, 1)
        assert by_item == {"a": (T0 - epoch) // micro, "b": (T0 - 2 * DAY - epoch) // micro}

    def test_interactions_decay_from_the_latest_event(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u", "item_id": "new", "event_time": T0},
                {"event_id": "e2", "user_id": "u", "item_id": "old", "event_time": T0 - 2 * DAY},
            )
        )
        found = store.interactions("c", TYPE_WEIGHTS, half_life_days=1.0)
        by_item = dict(zip(found.item_ids.tolist(), found.weights.tolist()))
        assert by_item == pytest.approx({"new": 1.0, "old": 0.25})

    def test_seen_pairs_are_distinct_and_of_the_seen_types(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "item_id": "i1"},
                {"event_id": "e2", "user_id": "u1", "item_id": "i1"},
                {"event_id": "e3", "user_id": "u1", "item_id": "i2", "type": "view"},
                {"event_id": "e4", "user_id": "u2", "item_id": "i3", "type": "purchase"},
                {"event_id": "e5", "user_id": "u2", "item_id": "i4", "catalog": "other"},
            )
        )
        found = store.seen_pairs("c", ["click", "purchase"])
        assert found[0].dtype == object
        assert pairs(found) == [("u1", "i1"), ("u2", "i3")]
        assert pairs(store.seen_pairs("c", [])) == []

    def test_weighted_events_in_time_order_with_positives(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "b", "user_id": "u1", "type": "rating", "value": 3.0},
                {"event_id": "a", "user_id": "u2", "type": "rating", "value": 4.0},
                {"event_id": "c", "user_id": "u1", "event_time": T0 - DAY},
                {"event_id": "d", "user_id": "u1", "type": "view", "event_time": T0 - DAY},
            )
        )
        table = store.weighted_events("c", TYPE_WEIGHTS)
        t0_us = int((T0 - datetime(1970, 1, 1)) / timedelta(microseconds=1))
        assert table.select(["user_id", "type", "value", "time_us", "positive"]).to_pylist() == [
            {
                "user_id": "u1",
                "type": "click",
                "value": 1.0,
                "time_us": t0_us - 86_400_000_000,
                "positive": True,
            },
            {"user_id": "u2", "type": "rating", "value": 4.0, "time_us": t0_us, "positive": True},
            {"user_id": "u1", "type": "rating", "value": 3.0, "time_us": t0_us, "positive": False},
        ]
        assert table.column("item_id").to_pylist() == ["i1", "i1", "i1"]

    def test_user_item_event_types_are_the_latest_of_the_types(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "a", "user_id": "u1", "type": "view", "event_time": T0 - DAY},
                {"event_id": "b", "user_id": "u1", "type": "purchase"},
                {"event_id": "c", "user_id": "u1", "item_id": "i2", "type": "rating"},
                {"event_id": "d", "user_id": "u1", "item_id": "i3", "type": "impression"},
                {"event_id": "e", "user_id": "u2", "item_id": "i2", "type": "click"},
                {"event_id": "f", "user_id": "u1", "item_id": "i4", "catalog": "other"},
            )
        )
        types = ["view", "purchase", "rating", "click"]
        found = store.user_item_event_types("c", "u1", ["i1", "i2", "i3", "i4", "i9"], types)
        assert found == {"i1": "purchase", "i2": "rating"}
        assert store.user_item_event_types("c", "u1", ["i1"], ["view"]) == {"i1": "view"}
        assert store.user_item_event_types("c", "nobody", ["i1"], types) == {}

    def test_item_event_counts_per_item_and_type(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "a", "user_id": "u1", "type": "impression"},
                {"event_id": "b", "user_id": "u2", "type": "impression"},
                {"event_id": "c", "user_id": "u1"},
                {"event_id": "d", "user_id": "u1", "item_id": "i2", "type": "rating"},
                {"event_id": "e", "user_id": "u1", "item_id": "i3", "catalog": "other"},
            )
        )
        rows = store.item_event_counts("c").to_pylist()
        assert sorted((r["item_id"], r["type"], r["events"]) for r in rows) == [
            ("i1", "click", 1),
            ("i1", "impression", 2),
            ("i2", "rating", 1),
        ]
        assert store.item_event_counts("none").num_rows == 0
