"""The profile service on a real DuckDB store: GetProfile's per-user path agrees with the
aggregate path, and rule segment members are reused until data changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from infogap.server.config import Settings, load_settings
from infogap.server.core.domain import Item, User
from infogap.server.core.models.training_data import event_type_weights
from infogap.server.core.profiles.service import Profiles
from infogap.server.core.store import DuckDBStore
from tests.server.core.store.conformance.builders import events

NOW = datetime(2026, 6, 1, 12)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    opened = DuckDBStore(tmp_path / "store")
    opened.upsert_items([Item("i1", "c", {"brand": "acme"}, ("shoes",))], NOW)
    opened.upsert_users([User("ann", {"plan": "gold"}), User("bob", {"plan": "free"})], NOW)
    opened.insert_events(
        events(
            {"event_id": "e1", "user_id": "ann", "event_time": NOW - timedelta(days=1)},
            {
                "event_id": "e2",
                "user_id": "ann",
                "type": "purchase",
                "value": 9.0,
                "event_time": NOW,
            },
            {"event_id": "e3", "user_id": "cid", "event_time": NOW - timedelta(days=40)},
        )
    )
    yield opened
    opened.close()


def profiles(store: DuckDBStore, **profile_settings: object) -> Profiles:
    settings: Settings = load_settings(
        data_dir=store.data_dir, profiles={"now": NOW, "cache_seconds": 3600, **profile_settings}
    )
    return Profiles(store, settings, [], event_type_weights(settings.event_types))


def test_a_few_users_and_everyone_give_the_same_facts(store: DuckDBStore) -> None:
    per_user = profiles(store)
    aggregates = profiles(store, event_path_max_users=0)
    users = ["ann", "bob", "cid", "nobody"]
    for requested in (None, NOW - timedelta(days=2)):
        found = per_user.facts(users, requested)
        assert sorted(found) == ["ann", "bob", "cid"]
        assert found == aggregates.facts(users, requested)
    ann = per_user.facts(["ann"], None)["ann"]
    assert (ann.event_count, ann.frequency, ann.monetary) == (2, 1, 9.0)
    assert [i.feature for i in ann.interests] == ["brand:acme", "tag:shoes"]


def test_rule_members_are_reused_until_data_changes(store: DuckDBStore) -> None:
    service = profiles(store)
    service.define_segment("clickers", "count.click >= 1", "")
    assert service.segment_members("clickers", 10, "") == (["ann", "cid"], "")
    # Written behind the service's back: nothing tells it, so the members are reused.
    store.insert_events(events({"event_id": "e4", "user_id": "bob"}))
    assert [(s.name, s.size) for s in service.list_segments()] == [("clickers", 2)]
    assert service.segment_members("clickers", 10, "") == (["ann", "cid"], "")
    service.invalidate(["bob"])  # what storing an event batch does
    assert [(s.name, s.size) for s in service.list_segments()] == [("clickers", 3)]
    assert service.segment_members("clickers", 10, "") == (["ann", "bob", "cid"], "")


def test_rule_members_follow_new_rules_and_expire(store: DuckDBStore) -> None:
    service = profiles(store)
    service.define_segment("clickers", "count.click >= 1", "")
    assert [s.size for s in service.list_segments()] == [2]
    service.define_segment("buyers", "count.purchase >= 1", "")
    assert [(s.name, s.size) for s in service.list_segments()] == [("buyers", 1), ("clickers", 2)]
    service.delete_segment("buyers")
    assert [s.name for s in service.list_segments()] == ["clickers"]

    uncached = profiles(store, cache_seconds=0)
    uncached.define_segment("clickers", "count.click >= 1", "")
    store.insert_events(events({"event_id": "e4", "user_id": "bob"}))
    assert [s.size for s in uncached.list_segments()] == [3]  # nothing is kept for 0 seconds
