"""The Segment tracking API on a real server's HTTP port, posted to with urllib: a batch of
identify and track lands as a user and events (read back through the SDK), a redelivery
stores nothing, unknown names are reported, a bad message stores nothing, keys are checked."""

from __future__ import annotations

import base64
import gzip
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from infogap.client import Client, NotFoundError
from infogap.server.core.errors import NotFound
from infogap.server.transport.auth import hash_api_key
from infogap.server.transport.server import InfoGapServer

from ..conftest import StartServer
from ..http_calls import call

ITEMS = [f"p{i}" for i in range(1, 7)]


def post(
    server: InfoGapServer,
    call: str,
    body: object,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """POSTs ``body`` as JSON to ``/v1/<call>``; the status and the decoded JSON answer."""
    request = urllib.request.Request(
        f"{server.http_url}/v1/{call}",
        data=json.dumps(body).encode() if data is None else data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def basic(write_key: str) -> dict[str, str]:
    """Segment's credentials: the write key as the Basic user name, no password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def shop_batch() -> dict[str, Any]:
    """Ann identifies, views p1 and orders p2 (x2) and p3; Bob views p2..p6; a name no
    mapping knows."""
    ann = [
        {
            "type": "identify",
            "messageId": "ann-id",
            "userId": "ann",
            "traits": {"plan": "gold", "age": 34, "email": "ann@example.com"},
        },
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": "ann-v1",
            "userId": "ann",
            "timestamp": "2026-01-10T09:00:00Z",
            "properties": {"product_id": "p1"},
        },
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": "ann-o1",
            "userId": "ann",
            "timestamp": "2026-01-10T09:05:00Z",
            "properties": {
                "order_id": "o1",
                "products": [
                    {"product_id": "p2", "price": 12.5, "quantity": 2},
                    {"product_id": "p3", "price": 5},
                ],
            },
        },
        {"type": "track", "event": "Newsletter Opened", "messageId": "ann-n1", "userId": "ann"},
    ]
    bob = [
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": f"bob-{item}",
            "anonymousId": "bob",
            "properties": {"product_id": item},
        }
        for item in ITEMS[1:]
    ]
    return {"batch": ann + bob, "context": {"library": {"name": "analytics-python"}}}


def type_counts(client: Client, user_id: str) -> dict[str, tuple[int, float]]:
    behaviour = client.profile(user_id).behaviour
    return {c.type: (c.count, c.value_sum) for c in behaviour.event_type_counts}


def test_a_batch_lands_as_users_and_events_and_redelivery_stores_nothing(
    start_server: StartServer,
):
    server = start_server(http={"port": 0})
    status, answer = post(server, "batch", shop_batch())
    assert status == 200
    assert answer == {
        "success": True,
        "received": 9,
        "stored": 8,
        "duplicates": 0,
        "users": 1,
        "unknownEvents": {"Newsletter Opened": 1},
        "ignored": {},
    }
    with Client(server.address, timeout=30) as client:
        assert dict(client.profile("ann").attributes) == {"plan": "gold", "age": "34"}
        assert type_counts(client, "ann") == {"view": (1, 0.0), "purchase": (2, 30.0)}
        assert type_counts(client, "bob") == {"view": (5, 0.0)}
        # Redelivered: every event is a duplicate, nothing is counted twice.
        status, again = post(server, "batch", shop_batch())
        assert status == 200 and (again["stored"], again["duplicates"]) == (0, 8)
        assert type_counts(client, "ann") == {"view": (1, 0.0), "purchase": (2, 30.0)}
        # What Ann saw and bought is left out of her recommendations.
        client.upsert_items([{"item_id": item} for item in ITEMS])
        client.train()
        recommended = {item.item_id for item in client.recommend("ann", count=6).items}
        assert recommended and not recommended & {"p1", "p2", "p3"}


def test_single_calls_and_unknown_names_are_counted(start_server: StartServer):
    server = start_server(http={"port": 0})
    viewed = {
        "event": "Product Viewed",
        "userId": "cy",
        "messageId": "cy-1",
        "properties": {"product_id": "p1"},
    }
    assert post(server, "track", viewed)[1]["stored"] == 1
    identified = {"userId": "cy", "messageId": "cy-2", "traits": {"tier": "b"}}
    assert post(server, "identify", identified)[1]["users"] == 1
    page = {"userId": "cy", "messageId": "cy-3", "name": "Home", "properties": {"path": "/"}}
    assert post(server, "page", page)[1]["ignored"] == {"page": 1}
    for n in range(2):
        post(server, "track", {"event": "Signed Up", "userId": "cy", "messageId": f"s{n}"})
    assert server.core.intake.unknown_counts() == {"Signed Up": 2}
    status, metrics = call(f"{server.http_url}/metrics")
    assert status == 200
    assert 'infogap_intake_unknown_events_total{name="Signed Up"} 2.0' in metrics
    with Client(server.address, timeout=30) as client:
        assert dict(client.profile("cy").attributes) == {"tier": "b"}
        assert type_counts(client, "cy") == {"view": (1, 0.0)}


def test_a_bad_message_is_refused_naming_its_field_and_nothing_is_stored(
    start_server: StartServer,
):
    server = start_server(http={"port": 0})
    body = shop_batch()
    del body["batch"][3]["messageId"]
    status, answer = post(server, "batch", body)
    assert status == 400
    assert answer["code"] == "invalid_argument"
    assert answer["message"] == "batch[3].messageId: is required"
    (detail,) = answer["details"]
    assert detail["type"] == "google.rpc.BadRequest"
    assert detail["debug"]["fieldViolations"][0]["field"] == "batch[3].messageId"
    with Client(server.address, timeout=30) as client, pytest.raises(NotFoundError):
        client.profile("ann")  # neither the identify nor the events before it were written
    assert post(server, "batch", {"batch": "all of them"})[1]["message"].startswith("batch:")
    status, answer = post(server, "track", None, data=b"{not json")
    assert (status, answer["code"]) == (400, "invalid_argument")
    assert post(server, "nothing", {})[0] == 404


def test_gzip_bodies_and_the_size_limit(start_server: StartServer):
    server = start_server(http={"port": 0}, limits={"max_message_bytes": 64 * 1024})
    viewed = {
        "event": "Product Viewed",
        "userId": "dee",
        "messageId": "d1",
        "properties": {"product_id": "p1"},
    }
    zipped = gzip.compress(json.dumps(viewed).encode())
    status, answer = post(server, "track", None, {"Content-Encoding": "gzip"}, data=zipped)
    assert (status, answer["stored"]) == (200, 1)
    padded = {**viewed, "messageId": "d2", "properties": {"product_id": "p1", "x": "y" * 70_000}}
    assert post(server, "track", padded)[0] == 413
    bomb = gzip.compress(json.dumps(padded).encode())  # small on the wire, large inflated
    assert post(server, "track", None, {"Content-Encoding": "gzip"}, data=bomb)[0] == 413


def test_keys_are_checked_like_grpc(start_server: StartServer):
    ingest, read = "segment-write-key-0123456789", "a-read-only-key-0123456789"
    keys = [
        {"name": "segment", "sha256": hash_api_key(ingest), "scopes": ["ingest"]},
        {"name": "reader", "sha256": hash_api_key(read), "scopes": ["read"]},
    ]
    server = start_server(http={"port": 0}, auth={"keys": keys})
    viewed = {
        "event": "Product Viewed",
        "userId": "eve",
        "messageId": "e1",
        "properties": {"product_id": "p1"},
    }
    status, answer = post(server, "track", viewed)
    assert (status, answer["code"]) == (401, "unauthenticated")
    status, answer = post(server, "track", viewed, basic("wrong-key-0123456789"))
    assert (status, answer["code"]) == (401, "unauthenticated")
    status, answer = post(server, "track", viewed, basic(read))
    assert (status, answer["code"]) == (403, "permission_denied")
    assert post(server, "track", viewed, basic(ingest))[1]["stored"] == 1
    bearer = {"Authorization": f"Bearer {ingest}"}
    assert post(server, "track", {**viewed, "messageId": "e2"}, bearer)[1]["stored"] == 1
    # Segment's writeKey in the body, when no header is sent.
    in_body = {**viewed, "messageId": "e3", "writeKey": ingest}
    assert post(server, "track", in_body)[1]["stored"] == 1
    assert post(server, "track", {**in_body, "writeKey": read})[0] == 403


def test_rate_limits_apply_as_on_grpc(start_server: StartServer):
    key = "segment-write-key-0123456789"
    keys = [{"name": "segment", "sha256": hash_api_key(key), "scopes": ["ingest"]}]
    auth = {"keys": keys, "requests_per_second_per_key": 0.01, "burst": 2}
    server = start_server(http={"port": 0}, auth=auth)
    statuses = [post(server, "batch", {"batch": []}, basic(key))[0] for _ in range(3)]
    assert statuses == [400, 400, 429]  # an empty batch is refused, but counts


def test_user_ids_are_pseudonymised_as_on_grpc(start_server: StartServer):
    server = start_server(
        http={"port": 0}, pseudonyms={"enabled": True, "secret": "a-secret-of-sixteen-chars"}
    )
    viewed = {
        "event": "Product Viewed",
        "userId": "crm-42",
        "messageId": "f1",
        "properties": {"product_id": "p1"},
    }
    assert post(server, "track", viewed)[1]["stored"] == 1
    with Client(server.address, timeout=30) as client:
        assert type_counts(client, "crm-42") == {"view": (1, 0.0)}  # the SDK's id maps alike
    with pytest.raises(NotFound):  # the core holds the pseudonym, never the raw id
        server.core.profile("crm-42")


def test_the_api_can_be_turned_off_and_takes_post_only(start_server: StartServer):
    server = start_server(http={"port": 0})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server.http_url}/v1/batch", timeout=30)
    assert caught.value.code == 501 and caught.value.headers["Allow"] == "POST"
    off = start_server(
        data_dir=server.core.settings.data_dir.parent / "off",
        http={"port": 0},
        segment={"enabled": False},
    )
    status, answer = post(off, "batch", shop_batch())
    assert (status, answer["code"]) == (404, "not_found")
