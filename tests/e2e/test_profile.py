"""ProfileService through the SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infogap.client import InvalidArgumentError, NotFoundError


def test_profile_has_attributes_and_behaviour(client):
    client.upsert_users([{"user_id": "ada", "attributes": {"plan": "gold", "region": "north"}}])
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    t1 = datetime(2026, 3, 5, 8, tzinfo=UTC)
    client.record(
        [
            {"user_id": "ada", "item_id": "a", "type": "view", "time": t0},
            {"user_id": "ada", "item_id": "b", "type": "view", "time": t1},
            {"user_id": "ada", "item_id": "b", "type": "purchase", "value": 30.0, "time": t1},
            {"user_id": "ada", "item_id": "h1", "catalog": "articles", "type": "click", "time": t1},
        ]
    )
    profile = client.profile("ada")
    assert dict(profile.attributes) == {"plan": "gold", "region": "north"}
    assert profile.HasField("attributes_update_time")
    behaviour = profile.behaviour
    assert behaviour.event_count == 4
    counts = {c.type: (c.count, c.value_sum) for c in behaviour.event_type_counts}
    assert counts["view"][0] == 2 and counts["purchase"] == (1, 30.0) and counts["click"][0] == 1
    assert behaviour.event_type_counts[0].type == "view"  # most frequent first
    assert behaviour.first_seen_time.ToDatetime(tzinfo=UTC) == t0
    assert behaviour.last_seen_time.ToDatetime(tzinfo=UTC) == t1
    catalogs = {
        a.catalog: (a.event_count, a.distinct_item_count) for a in behaviour.catalog_activities
    }
    assert catalogs == {"default": (3, 2), "articles": (1, 1)}


def test_upsert_replaces_attributes(client):
    client.upsert_users([{"user_id": "bo", "attributes": {"plan": "free", "old": "x"}}])
    client.upsert_users([{"user_id": "bo", "attributes": {"plan": "pro"}}])
    assert dict(client.profile("bo").attributes) == {"plan": "pro"}


def test_user_known_only_from_events_has_a_profile(client):
    client.record([{"user_id": "cy", "item_id": "a", "type": "click"}])
    profile = client.profile("cy")
    assert profile.behaviour.event_count == 1 and not profile.attributes


def test_unknown_user_is_not_found(client):
    with pytest.raises(NotFoundError):
        client.profile("nobody")


def test_duplicate_users_in_a_batch_are_rejected_and_nothing_is_stored(client):
    with pytest.raises(InvalidArgumentError) as caught:
        client.upsert_users([{"user_id": "dee"}, {"user_id": "eve"}, {"user_id": "dee"}])
    assert "users[2]" in caught.value.message
    with pytest.raises(NotFoundError):
        client.profile("eve")


def test_upsert_items_validates_catalog_and_tags(client):
    assert (
        client.upsert_items(
            [{"item_id": "p1", "catalog": "products", "tags": ["shoes"]}]
        ).upserted_count
        == 1
    )
    with pytest.raises(InvalidArgumentError) as caught:
        client.upsert_items([{"item_id": "p2", "tags": ["ok", ""]}])
    assert "items[0].tags[1]" in caught.value.message
