"""Unit tests of the SDK's pure parts: input conversion, batching, error mapping, channel set-up.

No server is involved; the clients talking to a real server are covered by tests/e2e.
"""

from __future__ import annotations

import json
import pickle
import sys
from concurrent import futures
from datetime import UTC, datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.client import (
    FailedPreconditionError,
    InfoGapError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    _channel,
    _convert,
    _errors,
    _health,
    _requests,
)
from infogap.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    entities_pb2,
    feedback_service_pb2,
    profile_service_pb2,
    recommend_service_pb2,
)

# --- dict -> message ----------------------------------------------------------------------------


def test_dict_becomes_an_event_with_every_field():
    event = _convert.to_event(
        {
            "event_id": "e1",
            "user_id": "u1",
            "item_id": "sku-1",
            "catalog": "products",
            "type": "purchase",
            "value": 19.9,
            "recommendation_id": "r1",
            "context": {"channel": "email"},
        }
    )
    assert isinstance(event, entities_pb2.Event)
    assert (event.event_id, event.user_id, event.item_id, event.catalog) == (
        "e1",
        "u1",
        "sku-1",
        "products",
    )
    assert (event.type, event.value, event.recommendation_id) == ("purchase", 19.9, "r1")
    assert dict(event.context) == {"channel": "email"}
    assert not event.HasField("time")


def test_naive_datetime_is_taken_as_utc():
    event = _convert.to_event({"user_id": "u", "time": datetime(2026, 3, 1, 12, 30)})
    assert event.time.seconds == int(datetime(2026, 3, 1, 12, 30, tzinfo=UTC).timestamp())
    assert event.time.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_aware_datetime_keeps_its_instant():
    paris = timezone(timedelta(hours=2))
    event = _convert.to_event({"user_id": "u", "time": datetime(2026, 3, 1, 14, 30, 0, 5, paris)})
    assert event.time.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 1, 12, 30, 0, 5, tzinfo=UTC)
    assert event.time.nanos == 5000


def test_timestamp_and_none_times_are_accepted():
    timestamp = Timestamp(seconds=1_700_000_000)
    assert _convert.to_event({"time": timestamp}).time == timestamp
    assert not _convert.to_event({"time": None}).HasField("time")


def test_dict_becomes_an_item_with_optional_active():
    item = _convert.to_item({"item_id": "i", "tags": ("a", "b"), "attributes": {"brand": "x"}})
    assert list(item.tags) == ["a", "b"] and dict(item.attributes) == {"brand": "x"}
    assert not item.HasField("active")
    assert _convert.to_item({"item_id": "i", "active": False}).HasField("active")
    assert not _convert.to_item({"item_id": "i", "active": None}).HasField("active")


def test_messages_pass_through():
    user = entities_pb2.User(user_id="u")
    item = entities_pb2.Item(item_id="i")
    event = entities_pb2.Event(event_id="e", user_id="u")
    assert _convert.to_user(user) is user
    assert _convert.to_item(item) is item
    assert _convert.to_event(event) is event


@pytest.mark.parametrize(
    ("convert", "value", "error", "text"),
    [
        (_convert.to_event, {"user": "u"}, ValueError, 'Event has no "user" field'),
        (_convert.to_event, {"value": "high"}, TypeError, "invalid Event"),
        (_convert.to_event, {"time": "2026-03-01"}, TypeError, "datetime or a Timestamp"),
        (_convert.to_event, entities_pb2.User(), TypeError, "infogap.v1.Event message"),
        (_convert.to_item, {"item_id": "i", "tags": "shoes"}, TypeError, "not a single string"),
        (_convert.to_user, ["u1"], TypeError, "got list"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(convert, value, error, text):
    with pytest.raises(error, match=text):
        convert(value)


# --- event ids ----------------------------------------------------------------------------------


def test_missing_event_ids_are_generated_unique():
    events = [_convert.to_event({"user_id": "u", "type": "view"}) for _ in range(1000)]
    ids = {event.event_id for event in events}
    assert len(ids) == 1000
    assert all(len(event_id) == 32 and int(event_id, 16) >= 0 for event_id in ids)


def test_given_event_ids_are_kept():
    assert _convert.to_event({"event_id": "mine"}).event_id == "mine"


def test_caller_inputs_are_not_modified():
    as_dict = {"user_id": "u"}
    as_message = entities_pb2.Event(user_id="u")
    assert _convert.to_event(as_dict).event_id and _convert.to_event(as_message).event_id
    assert as_dict == {"user_id": "u"}
    assert as_message.event_id == ""


def test_ids_are_fixed_in_the_requests_before_any_call():
    """A retry re-sends the request built once, so it must already carry every event's id."""
    requests = _requests.record_events_requests({"user_id": "u"} for _ in range(1500))
    ids = [event.event_id for request in requests for event in request.events]
    assert all(ids) and len(set(ids)) == 1500
    resent = [
        feedback_service_pb2.RecordEventsRequest.FromString(r.SerializeToString()) for r in requests
    ]
    assert [event.event_id for request in resent for event in request.events] == ids


# --- batching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(0, []), (1, [1]), (1000, [1000]), (1001, [1000, 1]), (2500, [1000, 1000, 500])],
)
def test_record_splits_into_batches_of_1000(count, sizes):
    events = ({"event_id": f"e{n}"} for n in range(count))
    requests = _requests.record_events_requests(events)
    assert [len(request.events) for request in requests] == sizes
    # Order is kept across batches.
    assert [e.event_id for r in requests for e in r.events] == [f"e{n}" for n in range(count)]


def test_upserts_split_into_batches_of_1000():
    users = _requests.upsert_users_requests({"user_id": f"u{n}"} for n in range(2001))
    items = _requests.upsert_items_requests(entities_pb2.Item(item_id=f"i{n}") for n in range(1000))
    assert [len(request.users) for request in users] == [1000, 1000, 1]
    assert [len(request.items) for request in items] == [1000]


def test_batch_responses_are_summed():
    record = _requests.merge_record_events_responses(
        feedback_service_pb2.RecordEventsResponse(stored_count=s, duplicate_count=d)
        for s, d in [(1000, 0), (990, 10), (3, 2)]
    )
    assert (record.stored_count, record.duplicate_count) == (1993, 12)
    users = _requests.merge_upsert_users_responses(
        [profile_service_pb2.UpsertUsersResponse(upserted_count=n) for n in (1000, 5)]
    )
    assert users.upserted_count == 1005
    assert _requests.merge_upsert_items_responses([]).upserted_count == 0


def test_stream_batches_are_split_and_empty_ones_skipped():
    batches = [[{"user_id": "u"}] * 1200, [], [{"user_id": "u"}] * 3]
    sizes = [len(request.events) for request in _requests.stream_events_requests(batches)]
    assert sizes == [1000, 200, 3]


def test_stream_error_trap_ends_the_stream_and_keeps_the_error():
    trap = _requests.RequestStreamErrorTrap()
    sent = list(trap.guard(_requests.stream_events_requests([[{"user_id": "u"}], [42]])))
    assert len(sent) == 1
    assert isinstance(trap.error, TypeError)
    with pytest.raises(TypeError):
        trap.raise_error()


def test_recommend_request_sets_a_filter_only_when_it_restricts():
    plain = _requests.recommend_request(
        "u",
        catalog="",
        count=5,
        include_tags=(),
        exclude_tags=(),
        exclude_item_ids=(),
        include_seen=False,
    )
    assert not plain.HasField("filter") and plain.count == 5
    filtered = _requests.similar_items_request(
        "i", catalog="c", count=10, include_tags=["a"], exclude_tags=(), exclude_item_ids={"x"}
    )
    assert list(filtered.filter.include_tags) == ["a"]
    assert list(filtered.filter.exclude_item_ids) == ["x"]
    with pytest.raises(TypeError, match="exclude_tags"):
        _requests.recommend_request(
            "u",
            catalog="",
            count=5,
            include_tags=(),
            exclude_tags="red",
            exclude_item_ids=(),
            include_seen=False,
        )


# --- errors -------------------------------------------------------------------------------------


class FakeRpcError(grpc.RpcError):
    """What a failed call raises, reduced to the three methods the conversion uses."""

    def __init__(self, code, details="", trailing_metadata=()):
        self._code, self._details, self._trailing_metadata = code, details, trailing_metadata

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing_metadata


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPreconditionError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, _errors.ResourceExhaustedError),
        (grpc.StatusCode.UNAUTHENTICATED, _errors.UnauthenticatedError),
        (grpc.StatusCode.PERMISSION_DENIED, _errors.PermissionDeniedError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, _errors.DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, InfoGapError),
        (grpc.StatusCode.ALREADY_EXISTS, _errors.AlreadyExistsError),
        (grpc.StatusCode.ABORTED, InfoGapError),
    ],
)
def test_status_codes_map_to_error_classes(code, error_class):
    error = _errors.from_rpc_error(FakeRpcError(code, "it failed"))
    assert type(error) is error_class
    assert (error.code, error.message, error.field_violations) == (code, "it failed", [])
    assert str(error) == f"{code.name}: it failed"


def test_a_bare_rpc_error_is_unknown():
    error = _errors.from_rpc_error(grpc.RpcError())
    assert type(error) is InfoGapError and error.code == grpc.StatusCode.UNKNOWN


def bad_request_metadata():
    status_pb2 = pytest.importorskip("google.rpc.status_pb2")
    error_details_pb2 = pytest.importorskip("google.rpc.error_details_pb2")
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field="events[2].type", description="unknown event type"
            )
        ]
    )
    status = status_pb2.Status(code=3, message="events[2].type: unknown event type")
    status.details.add().Pack(bad_request)
    return (
        ("content-type", "application/grpc"),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


def test_field_violations_are_read_from_the_status_details():
    error = _errors.from_rpc_error(
        FakeRpcError(
            grpc.StatusCode.INVALID_ARGUMENT, "events[2].type: ...", bad_request_metadata()
        )
    )
    assert error.field_violations == [("events[2].type", "unknown event type")]


def test_field_violations_stay_empty_without_googleapis_common_protos(monkeypatch):
    metadata = bad_request_metadata()
    monkeypatch.setitem(sys.modules, "google.rpc", None)  # makes `import google.rpc` fail
    error = _errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "x", metadata))
    assert type(error) is InvalidArgumentError and error.field_violations == []


def test_malformed_status_details_are_ignored():
    metadata = (("grpc-status-details-bin", b"\xff\xff"),)
    error = _errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "x", metadata))
    assert error.field_violations == []


def test_errors_pickle():
    error = InvalidArgumentError(grpc.StatusCode.INVALID_ARGUMENT, "bad", [("f", "d")])
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.code, copy.message, copy.field_violations) == (
        InvalidArgumentError,
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad",
        [("f", "d")],
    )


# --- channel set-up -----------------------------------------------------------------------------


def service_config_of(options):
    options = dict(options)
    assert options["grpc.enable_retries"] == 1
    return json.loads(options["grpc.service_config"])


def retried_methods(config):
    """(service, method) pairs covered by a retry policy, with method None for "all methods"."""
    return {
        (name["service"], name.get("method"))
        for method_config in config["methodConfig"]
        if "retryPolicy" in method_config
        for name in method_config["name"]
    }


def test_service_config_retries_unavailable_on_idempotent_methods_only():
    config = service_config_of(_channel.channel_options())
    assert retried_methods(config) == {
        ("infogap.v1.FeedbackService", "RecordEvents"),
        ("infogap.v1.ProfileService", "UpsertUsers"),
        ("infogap.v1.ProfileService", "UpsertItems"),
        ("infogap.v1.ProfileService", "GetProfile"),
        ("infogap.v1.ProfileService", "GetProfiles"),
        ("infogap.v1.ProfileService", "ListSegments"),
        ("infogap.v1.ProfileService", "GetSegmentMembers"),
        ("infogap.v1.RecommendService", None),
        ("infogap.v1.AdminService", "GetModelInfo"),
        ("infogap.v1.AdminService", "GetPrivacyBudget"),
        ("infogap.v1.AdminService", "ListPlugins"),
        ("infogap.v1.AdminService", "ListExperiments"),
        ("infogap.v1.AdminService", "GetExperimentReport"),
    }
    (method_config,) = config["methodConfig"]
    assert method_config["retryPolicy"] == {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }


def test_service_config_names_exist_and_leave_out_the_non_idempotent_methods():
    services = {
        service.full_name: service
        for module in (
            feedback_service_pb2,
            profile_service_pb2,
            recommend_service_pb2,
            admin_service_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
    }
    retried = retried_methods(service_config_of(_channel.channel_options()))
    for service, method in retried:
        assert service in services
        assert method is None or method in services[service].methods_by_name
    covered = {
        f"{service}/{method.name}"
        for service, descriptor in services.items()
        for method in descriptor.methods
        if (service, None) in retried or (service, method.name) in retried
    }
    every_method = {f"{s}/{m.name}" for s, d in services.items() for m in d.methods}
    assert every_method - covered == {
        "infogap.v1.FeedbackService/StreamEvents",
        "infogap.v1.AdminService/Train",
        "infogap.v1.ProfileService/PatchUsers",
        "infogap.v1.AdminService/DeleteUser",
        "infogap.v1.ProfileService/DefineSegment",
        "infogap.v1.ProfileService/DeleteSegment",
        "infogap.v1.AdminService/EvaluateModels",
        "infogap.v1.AdminService/CreateExperiment",
        "infogap.v1.AdminService/StartExperiment",
        "infogap.v1.AdminService/StopExperiment",
    }


def test_service_config_names_each_method_once():
    """grpc rejects the whole service config (and every call fails) if a name is repeated."""
    (method_config,) = service_config_of(_channel.channel_options())["methodConfig"]
    names = [(name["service"], name.get("method")) for name in method_config["name"]]
    assert len(names) == len(set(names))


def test_grpc_accepts_the_service_config():
    """A channel with the SDK's options gets as far as the server (UNIMPLEMENTED there)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(
            f"127.0.0.1:{port}", options=_channel.channel_options()
        ) as channel:
            stub = admin_service_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListPlugins(admin_service_pb2.ListPluginsRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED, caught.value.details()
    finally:
        server.stop(None)


def test_caller_options_override_the_sdks():
    options = dict(
        _channel.channel_options([("grpc.enable_retries", 0), ("grpc.max_send_message_length", 1)])
    )
    assert options["grpc.enable_retries"] == 0 and options["grpc.max_send_message_length"] == 1
    assert "grpc.service_config" in options


def test_api_key_and_extra_metadata_go_with_every_call():
    assert _channel.call_metadata("s3cret", [("x-tenant", "acme")]) == (
        ("authorization", "Bearer s3cret"),
        ("x-tenant", "acme"),
    )
    assert _channel.call_metadata(None) == ()


def test_settings_check_their_values():
    settings = _channel.ClientSettings.create(
        "h:1", timeout=5.0, api_key=None, metadata=(), credentials=None, options=()
    )
    assert settings.deadline(None) == 5.0 and settings.deadline(60) == 60
    with pytest.raises(ValueError, match="timeout"):
        _channel.ClientSettings.create(
            "h:1", timeout=0, api_key=None, metadata=(), credentials=None, options=()
        )
    with pytest.raises(ValueError, match="api_key"):
        _channel.ClientSettings.create(
            "h:1", timeout=1, api_key="", metadata=(), credentials=None, options=()
        )


# --- health check wire format -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"", "UNKNOWN"),
        (b"\x08\x01", "SERVING"),
        (b"\x08\x02", "NOT_SERVING"),
        (b"\x08\x03", "SERVICE_UNKNOWN"),
        (b"\x08\x09", "UNKNOWN"),  # a status this SDK does not know yet
        (b"\x12\x03abc\x08\x01\x1d\x00\x00\x00\x00", "SERVING"),  # unknown fields are skipped
    ],
)
def test_health_status_is_decoded(payload, status):
    assert _health.decode_health_status(payload) == status


@pytest.mark.parametrize(
    "payload", [b"\x08", b"\x12\x05ab", b"\x0b", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"]
)
def test_malformed_health_response_is_an_internal_error(payload):
    with pytest.raises(InfoGapError) as caught:
        _health.decode_health_status(payload)
    assert caught.value.code == grpc.StatusCode.INTERNAL


def test_hand_written_health_encoding_matches_the_generated_messages():
    health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
    assert health_pb2.HealthCheckRequest().SerializeToString() == _health.HEALTH_CHECK_REQUEST
    for name, number in health_pb2.HealthCheckResponse.ServingStatus.items():
        payload = health_pb2.HealthCheckResponse(status=number).SerializeToString()
        assert _health.decode_health_status(payload) == name
