"""FeedbackService through the SDK against a real server and DuckDB file."""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from infogap.client import Client, InvalidArgumentError, UnavailableError
from infogap.server.core.store import DATABASE_FILE


def stored_event_ids(server) -> set[str]:
    rows = server.core._store.cursor().execute("SELECT event_id FROM events").fetchall()
    return {row[0] for row in rows}


def event(n: int, **fields):
    return {
        "event_id": f"e{n}",
        "user_id": f"u{n % 3}",
        "item_id": f"i{n % 5}",
        "type": "view",
        **fields,
    }


def test_record_stores_events_and_reports_counts(client, server):
    response = client.record([event(n) for n in range(10)])
    assert (response.stored_count, response.duplicate_count) == (10, 0)
    assert stored_event_ids(server) == {f"e{n}" for n in range(10)}


def test_resending_a_batch_stores_nothing_twice(client, server):
    batch = [event(n) for n in range(20)]
    client.record(batch)
    again = client.record(batch + [event(20)])
    assert (again.stored_count, again.duplicate_count) == (1, 20)
    assert len(stored_event_ids(server)) == 21


def test_an_id_repeated_within_a_batch_is_stored_once(client, server):
    response = client.record([event(1), event(1)])
    assert (response.stored_count, response.duplicate_count) == (1, 1)


def test_sdk_generates_event_ids_when_missing(client, server):
    response = client.record([{"user_id": "u", "item_id": "i", "type": "click"}] * 3)
    assert response.stored_count == 3
    assert all(len(event_id) >= 16 for event_id in stored_event_ids(server))


@pytest.mark.parametrize(
    ("bad_fields", "field", "reason"),
    [
        ({"type": "teleport"}, "events[2].type", "unknown event type"),
        ({"user_id": ""}, "events[2].user_id", "must not be empty"),
        ({"item_id": "x" * 300}, "events[2].item_id", "longer than 256"),
        ({"value": math.nan}, "events[2].value", "finite"),
        ({"value": math.inf}, "events[2].value", "finite"),
        ({"time": datetime.now(UTC) + timedelta(days=2)}, "events[2].time", "future"),
        ({"catalog": "no spaces please"}, "events[2].catalog", "letters, digits"),
        ({"user_id": "tab\there"}, "events[2].user_id", "printable"),
    ],
)
def test_a_bad_event_rejects_the_whole_batch(client, server, bad_fields, field, reason):
    client.record([event(100)])
    batch = [event(0), event(1), event(2, **bad_fields), event(3)]
    with pytest.raises(InvalidArgumentError) as caught:
        client.record(batch)
    assert field in caught.value.message and reason in caught.value.message
    assert (field,) == tuple(v[0] for v in caught.value.field_violations)
    # Nothing of the rejected batch was stored, and what was there before still is.
    assert stored_event_ids(server) == {"e100"}


def test_oversized_batch_is_rejected_with_the_limit(server):
    import grpc

    from infogap.v1 import entities_pb2, feedback_service_pb2, feedback_service_pb2_grpc

    events = [
        entities_pb2.Event(event_id=f"e{n}", user_id="u", item_id="i", type="view")
        for n in range(1001)
    ]
    with grpc.insecure_channel(server.address) as channel:
        stub = feedback_service_pb2_grpc.FeedbackServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.RecordEvents(feedback_service_pb2.RecordEventsRequest(events=events))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 to 1000" in caught.value.details()
    assert stored_event_ids(server) == set()


def test_stream_events_stores_every_batch(client, server):
    batches = [[event(n) for n in range(start, start + 50)] for start in range(0, 200, 50)]
    response = client.stream_events(batches + [batches[0]])
    assert (response.stored_count, response.duplicate_count, response.batch_count) == (200, 50, 5)
    assert len(stored_event_ids(server)) == 200


def test_acknowledged_events_survive_a_crash(tmp_path):
    """Kill -9 the server right after the acknowledgement: the events are in the file."""
    port = free_port()
    data_dir = tmp_path / "crash"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infogap.server",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(f"127.0.0.1:{port}", timeout=30) as client:
            wait_until_serving(client)
            response = client.record([event(n) for n in range(50)])
            assert response.stored_count == 50
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    with duckdb.connect(str(data_dir / DATABASE_FILE), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(client: Client, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if client.health() == "SERVING":
                return
        except UnavailableError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not start")
