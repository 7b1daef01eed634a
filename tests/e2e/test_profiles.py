"""Profiles and segments through the SDK: partial attribute updates, windows and RFM measured
from a fixed "now", decayed interests, rule segments checked at definition time, clusters."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from infogap.client import Client, InvalidArgumentError, NotFoundError

NOW = datetime(2026, 6, 1, 12)


@pytest.fixture
def shop(start_server):
    """A server whose "now" is fixed, with a few users and a small shop catalogue."""
    server = start_server(profiles={"now": NOW, "interest_half_life_days": 30})
    with Client(server.address) as client:
        client.upsert_items(
            [
                {"item_id": "boots", "tags": ["shoes", "outdoor"], "attributes": {"brand": "acme"}},
                {"item_id": "sneakers", "tags": ["shoes"], "attributes": {"brand": "zoom"}},
                {"item_id": "tent", "tags": ["outdoor"], "attributes": {"brand": "acme"}},
                {"item_id": "novel", "tags": ["books"]},
            ]
        )
        client.upsert_users(
            [
                {"user_id": "ann", "attributes": {"plan": "gold", "region": "north"}},
                {"user_id": "bob", "attributes": {"plan": "free"}},
            ]
        )
        days_ago = lambda days: NOW - timedelta(days=days)  # noqa: E731
        client.record(
            [
                {
                    "user_id": "ann",
                    "item_id": "boots",
                    "type": "purchase",
                    "value": 120,
                    "time": days_ago(2),
                },
                {"user_id": "ann", "item_id": "tent", "type": "view", "time": days_ago(2)},
                {"user_id": "ann", "item_id": "sneakers", "type": "click", "time": days_ago(20)},
                {"user_id": "ann", "item_id": "novel", "type": "view", "time": days_ago(60)},
                {
                    "user_id": "ann",
                    "item_id": "tent",
                    "type": "purchase",
                    "value": 300,
                    "time": days_ago(200),
                },
                {
                    "user_id": "bob",
                    "item_id": "novel",
                    "type": "purchase",
                    "value": 15,
                    "time": days_ago(40),
                },
                {
                    "user_id": "ann",
                    "item_id": "boots",
                    "type": "view",
                    "time": NOW + timedelta(minutes=2),
                },
            ]
        )
        yield client


def test_patch_sets_and_unsets_attributes(shop):
    shop.patch_users(
        [
            {
                "user_id": "ann",
                "set_attributes": {"plan": "platinum"},
                "unset_attributes": ["region"],
            },
            {"user_id": "new", "set_attributes": {"plan": "free"}},
        ]
    )
    assert dict(shop.profile("ann").attributes) == {"plan": "platinum"}
    assert dict(shop.profile("new").attributes) == {"plan": "free"}
    with pytest.raises(InvalidArgumentError, match=r"patches\[0\].unset_attributes\[0\]"):
        shop.patch_users(
            [{"user_id": "ann", "set_attributes": {"plan": "x"}, "unset_attributes": ["plan"]}]
        )


def test_windows_rfm_and_activity_from_the_fixed_now(shop):
    behaviour = shop.profile("ann").behaviour
    assert behaviour.event_count == 5  # the event after "now" is not counted
    windows = {w.days: {c.type: c.count for c in w.event_type_counts} for w in behaviour.windows}
    assert windows == {
        7: {"purchase": 1, "view": 1},
        30: {"purchase": 1, "view": 1, "click": 1},
        90: {"purchase": 1, "view": 2, "click": 1},
    }
    assert behaviour.rfm.recency_days == pytest.approx(2.0)
    assert behaviour.rfm.frequency == 1  # purchases in the last 90 days
    assert behaviour.rfm.monetary == pytest.approx(420.0)  # all purchases
    assert behaviour.active_days == 4
    # Measured from another moment, the same history reads differently.
    earlier = shop.profile("ann", as_of=NOW - timedelta(days=10)).behaviour
    assert earlier.event_count == 3 and earlier.rfm.recency_days == pytest.approx(10.0)


def test_interests_are_weighted_decayed_and_normalised(shop):
    interests = {i.feature: i for i in shop.profile("ann").interests}
    # The boots (shoes, outdoor) bought 2 days ago dominate; the tent purchase is 200 days old,
    # decayed to about 1%, so shoes (boots + sneakers click) lead outdoor (boots + tent view).
    assert next(iter(interests)) == "tag:shoes"
    # Every outdoor item is an acme item here, so both features score the same.
    assert interests["tag:outdoor"].score == pytest.approx(interests["brand:acme"].score)
    assert interests["tag:shoes"].evidence_count == 2
    assert interests["tag:books"].score < 0.05  # one view, two months ago
    assert all(0 < i.score <= 1 for i in interests.values())
    assert (
        "brand:acme" in interests and interests["brand:acme"].score > interests["brand:zoom"].score
    )
    bob = {i.feature: i.score for i in shop.profile("bob").interests}
    assert bob == {"tag:books": pytest.approx(1.0)}  # all of bob's activity: comparable scale


def test_rule_segments_are_checked_at_definition_and_evaluated(shop):
    segment = shop.define_segment(
        "recent-outdoor",
        'rfm.recency_days <= 30 AND interest.tag:outdoor >= 0.3 AND attribute.plan = "gold"',
        description="active outdoor fans on gold",
    )
    assert segment.size == 1 and segment.kind == "rule"
    assert [s.name for s in shop.profile("ann").segments] == ["recent-outdoor"]
    assert list(shop.profile("bob").segments) == []
    shop.define_segment("buyers", 'count.purchase >= 1 OR NOT (attribute.plan != "free")')
    assert shop.segment_members("buyers").user_ids == ["ann", "bob"]
    names = {s.name: s.size for s in shop.list_segments()}
    assert names["buyers"] == 2 and names["recent-outdoor"] == 1
    shop.delete_segment("buyers")
    with pytest.raises(NotFoundError):
        shop.segment_members("buyers")


@pytest.mark.parametrize(
    ("rule", "position", "reason"),
    [
        ("rfm.recency_days <= ", 20, "ends too early; expected a number or a quoted string"),
        ("rfm.recency <= 3", 1, "unknown field"),
        ('attribute.plan > "a"', 16, "only = and !="),
        ("attribute.plan = 3", 18, "quoted string"),
        ("count_14d.view > 1", 1, "no 14-day window"),
        ("count.view >> 1", 13, "unexpected '>'"),
        ("rfm.frequency > 1 AND", 22, "ends too early"),
        ("(count.view > 1", 16, "expected ')'"),
    ],
)
def test_invalid_rules_name_position_and_reason(shop, rule, position, reason):
    with pytest.raises(InvalidArgumentError) as caught:
        shop.define_segment("bad", rule)
    assert f"position {position}:" in caught.value.message and reason in caught.value.message
    assert caught.value.field_violations[0][0] == "rule"
    assert "bad" not in {s.name for s in shop.list_segments()}


def test_get_profiles_in_batch(shop):
    response = shop.profiles(["bob", "nobody", "ann"])
    assert [p.user_id for p in response.profiles] == ["bob", "ann"]
    assert list(response.missing_user_ids) == ["nobody"]
    # The SDK splits large requests into batches the server accepts...
    assert len(shop.profiles([f"u{n}" for n in range(501)]).missing_user_ids) == 501


def test_over_large_profile_batch_is_rejected_with_the_limit(start_server):
    import grpc

    from infogap.v1 import profile_service_pb2, profile_service_pb2_grpc

    server = start_server()
    request = profile_service_pb2.GetProfilesRequest(user_ids=[f"u{n}" for n in range(501)])
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as caught:
        profile_service_pb2_grpc.ProfileServiceStub(channel).GetProfiles(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 to 500" in caught.value.details()


def test_a_new_event_refreshes_a_cached_profile(shop):
    assert shop.profile("bob").behaviour.event_count == 1
    shop.record(
        [{"user_id": "bob", "item_id": "boots", "type": "view", "time": NOW - timedelta(days=1)}]
    )
    assert shop.profile("bob").behaviour.event_count == 2


def test_clusters_are_computed_after_training(trained_client):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        clusters = [s for s in trained_client.list_segments() if s.kind == "cluster"]
        if clusters:
            break
        time.sleep(0.1)
    assert clusters and sum(c.size for c in clusters) == 60
    assert all(c.description.startswith("strongest interests: ") for c in clusters)
    red_cluster = {
        s.name for s in trained_client.profile("red-user-0").segments if s.kind == "cluster"
    }
    blue_cluster = {
        s.name for s in trained_client.profile("blue-user-0").segments if s.kind == "cluster"
    }
    assert red_cluster and blue_cluster and red_cluster != blue_cluster
    members = list(trained_client.iter_segment_members(red_cluster.pop(), page_size=7))
    assert "red-user-0" in members and not any(m.startswith("blue") for m in members)
