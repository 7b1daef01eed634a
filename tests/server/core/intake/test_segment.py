"""Segment messages as InfoGap patches and events: the mapping, the derived ids and values,
and refusals that name the sender's field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infogap.server.config import LimitSettings, SegmentSettings, Settings
from infogap.server.core.errors import InvalidArgument, StartupError
from infogap.server.core.intake.segment import SegmentTranslator

NOW = datetime(2026, 3, 1, 12, 0, 0)
EVENT_TYPES = Settings().event_types


def translator(**segment: object) -> SegmentTranslator:
    return SegmentTranslator(SegmentSettings(**segment), LimitSettings(), EVENT_TYPES)


def batch(*messages: object, **segment: object):
    return translator(**segment).translate(
        list(messages), batch_field="batch", call_type=None, now=NOW
    )


def refusal(*messages: object, **segment: object) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        batch(*messages, **segment)
    violation = caught.value.violations[0]
    return violation.field, violation.reason


def track(event: str, message_id: str = "m1", **fields: object) -> dict[str, object]:
    return {"type": "track", "event": event, "messageId": message_id, "userId": "u1", **fields}


def test_product_events_become_their_types_on_the_product_id():
    result = batch(
        track("Product Viewed", "m1", properties={"product_id": "p1"}),
        track("Product Clicked", "m2", properties={"product_id": 42}),
        track("Product Added", "m3", properties={"product_id": "p3", "price": 2.5, "quantity": 4}),
        track("Product Reviewed", "m4", properties={"product_id": "p4", "rating": 5}),
    )
    events = result.events
    assert events.event_ids == ["m1", "m2", "m3", "m4"]
    assert events.types == ["view", "click", "add_to_cart", "rating"]
    assert events.item_ids == ["p1", "42", "p3", "p4"]
    assert events.values == [0.0, 0.0, 10.0, 5.0]
    assert events.user_ids == ["u1"] * 4
    assert events.catalogs == [""] * 4  # the default catalog, filled in by validation
    assert not result.unknown and not result.patches


def test_an_order_is_one_purchase_per_product_valued_price_times_quantity():
    order = track(
        "Order Completed",
        "order-7",
        properties={
            "order_id": "o7",
            "products": [
                {"product_id": "p1", "price": 10, "quantity": 3},
                {"product_id": "p2", "price": "4.50"},  # a numeric string, quantity 1
            ],
        },
    )
    events = batch(order).events
    assert events.event_ids == ["order-7:0", "order-7:1"]
    assert events.types == ["purchase", "purchase"]
    assert events.item_ids == ["p1", "p2"]
    assert events.values == [30.0, 4.5]


def test_the_user_is_user_id_else_anonymous_id_or_as_configured():
    anonymous = {"type": "track", "event": "Product Viewed", "messageId": "m1"}
    anonymous |= {"anonymousId": "anon-1", "properties": {"product_id": "p"}}
    assert batch(anonymous).events.user_ids == ["anon-1"]
    both = {**anonymous, "userId": "u9"}
    assert batch(both).events.user_ids == ["u9"]
    assert batch(both, user_id_fields=["anonymousId", "userId"]).events.user_ids == ["anon-1"]


def test_the_event_time_is_the_timestamp_else_received_at_else_none():
    viewed = track("Product Viewed", properties={"product_id": "p"})
    stamped = batch(
        {**viewed, "timestamp": "2026-02-01T10:00:00+01:00", "receivedAt": "2026-02-02T00:00:00Z"},
        {**viewed, "messageId": "m2", "receivedAt": "2026-02-02T00:00:00Z"},
        {**viewed, "messageId": "m3"},
    ).events.times_us
    expected = [datetime(2026, 2, 1, 9, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC)]
    assert stamped == [int(t.timestamp() * 1_000_000) for t in expected] + [None]


def test_identify_merges_traits_into_one_patch_per_user():
    result = batch(
        {
            "type": "identify",
            "messageId": "i1",
            "userId": "u1",
            "traits": {
                "plan": "gold",
                "age": 31,
                "vip": True,
                "address": {"city": "Lyon"},
                "email": "a@example.com",
                "tags": ["a", "b"],
                "score": 2.5,
            },
        },
        {
            "type": "identify",
            "messageId": "i2",
            "userId": "u1",
            "traits": {
                "plan": None,
                "company": {"size": 10},
            },
        },
        {"type": "identify", "messageId": "i3", "anonymousId": "anon", "traits": {}},
    )
    first, second = result.patches
    assert first.user_id == "u1"
    # email is excluded by default; the address is a contact detail too.
    assert dict(first.set_attributes) == {
        "age": "31",
        "vip": "true",
        "tags": '["a","b"]',
        "score": "2.5",
        "company.size": "10",
    }
    assert first.unset_attributes == ("plan",)
    assert second.user_id == "anon" and not second.set_attributes
    assert len(result.events) == 0


def test_traits_can_be_limited_to_a_list():
    identify = {"type": "identify", "messageId": "i", "userId": "u", "traits": {"a": 1, "b": 2}}
    (patch,) = batch(identify, traits=["a"]).patches
    assert dict(patch.set_attributes) == {"a": "1"}


def test_unknown_names_are_counted_and_other_calls_ignored():
    result = batch(
        track("Signed Up", "m1"),
        track("Signed Up", "m2"),
        track("Coupon Applied", "m3"),
        {"type": "group", "messageId": "g", "userId": "u1", "groupId": "acme"},
        {"type": "alias", "messageId": "a", "userId": "u1", "previousId": "anon"},
        {"type": "page", "messageId": "pg1", "userId": "u1", "properties": {"path": "/"}},
        {"type": "page", "messageId": "pg2", "userId": "u1", "properties": {"product_id": "p5"}},
    )
    assert result.unknown == {"Signed Up": 2, "Coupon Applied": 1}
    assert result.ignored == {"group": 1, "alias": 1, "page": 1}
    assert result.events.item_ids == ["p5"] and result.events.types == ["view"]


def test_custom_mappings_name_their_paths_catalog_and_type():
    mapping = {"Song Played": {"type": "view", "item": "properties.track.id", "catalog": "music"}}
    played = track("Song Played", properties={"track": {"id": "t1"}})
    events = batch(played, events=mapping).events
    assert (events.item_ids, events.catalogs, events.types) == (["t1"], ["music"], ["view"])
    assert batch(track("Product Viewed"), events=mapping).unknown == {"Product Viewed": 1}


def test_the_recommendation_id_is_carried_for_attribution():
    clicked = track("Product Clicked", properties={"product_id": "p", "recommendation_id": "r-1"})
    assert batch(clicked).events.recommendation_ids == ["r-1"]


def test_a_single_call_takes_its_type_from_the_endpoint():
    message = {
        "event": "Product Viewed",
        "messageId": "m",
        "userId": "u",
        "properties": {"product_id": "p"},
    }
    result = translator().translate([message], batch_field=None, call_type="track", now=NOW)
    assert result.events.types == ["view"]
    with pytest.raises(InvalidArgument) as caught:
        translator().translate(
            [{"event": "x", "userId": "u"}], batch_field=None, call_type="track", now=NOW
        )
    assert caught.value.violations[0].field == "messageId"


@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        ({"event": "Product Viewed", "userId": "u"}, "batch[1].type", "must be one of"),
        (track("Product Viewed", ""), "batch[1].messageId", "is required"),
        ({**track("Product Viewed"), "userId": None}, "batch[1].userId", "neither userId nor"),
        (track("Product Viewed", timestamp="yesterday"), "batch[1].timestamp", "not an ISO 8601"),
        (track("Product Viewed", timestamp=1767225600), "batch[1].timestamp", "not an ISO 8601"),
        (
            track("Product Viewed", timestamp="2026-03-02T00:00:00Z"),
            "batch[1].timestamp",
            "in the future",
        ),
        (track("Product Viewed", properties={}), "batch[1].properties.product_id", "is required"),
        (
            track("Product Viewed", properties={"product_id": True}),
            "batch[1].properties.product_id",
            "string or an integer",
        ),
        (
            track("Product Reviewed", properties={"product_id": "p"}),
            "batch[1].properties.rating",
            "is required",
        ),
        (
            track("Product Added", properties={"product_id": "p", "price": "free"}),
            "batch[1].properties.price",
            "not a number",
        ),
        (
            track("Order Completed", properties={"products": []}),
            "batch[1].properties.products",
            "non-empty list",
        ),
        (
            track("Order Completed", properties={"products": [{"product_id": "a"}, {"price": 1}]}),
            "batch[1].properties.products[1].product_id",
            "is required",
        ),
        (
            {"type": "identify", "messageId": "i", "userId": "u", "traits": "gold"},
            "batch[1].traits",
            "JSON object",
        ),
        ("not an object", "batch[1]", "JSON object"),
    ],
)
def test_a_bad_message_is_refused_naming_its_field(message, field, reason):
    good = track("Product Viewed", "m0", properties={"product_id": "p"})
    refused_field, refused_reason = refusal(good, message)
    assert refused_field == field
    assert reason in refused_reason


def test_a_batch_over_the_limit_is_refused():
    limits = LimitSettings(max_batch_size=2)
    messages = [track("Signed Up", f"m{i}") for i in range(3)]
    with pytest.raises(InvalidArgument, match="1 to 2") as caught:
        SegmentTranslator(SegmentSettings(), limits, EVENT_TYPES).translate(
            messages, batch_field="batch", call_type=None, now=NOW
        )
    assert caught.value.violations[0].field == "batch"


def test_a_mapping_to_an_unconfigured_event_type_stops_the_start():
    with pytest.raises(StartupError, match=r"'Product Viewed'.*'glance'"):
        translator(events={"Product Viewed": {"type": "glance"}})
    with pytest.raises(StartupError, match="catalog"):
        translator(catalog="../etc")
