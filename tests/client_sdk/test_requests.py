"""Unit tests of the ProfileService request building: patches, profiles, segments.

No server is involved; the clients talking to a real server are covered by tests/e2e.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.client import AsyncClient, Client, InfoGapError, _convert, _requests
from infogap.v1 import profile_service_pb2

# --- PatchUsers ---------------------------------------------------------------------------------


def test_dict_becomes_a_user_patch():
    patch = _convert.to_user_patch(
        {"user_id": "u1", "set_attributes": {"plan": "gold"}, "unset_attributes": ["trial"]}
    )
    assert isinstance(patch, profile_service_pb2.UserPatch)
    assert patch.user_id == "u1"
    assert dict(patch.set_attributes) == {"plan": "gold"}
    assert list(patch.unset_attributes) == ["trial"]


def test_user_patch_fields_may_be_left_out_or_none():
    patch = _convert.to_user_patch({"user_id": "u1", "set_attributes": None})
    assert (patch.user_id, dict(patch.set_attributes), list(patch.unset_attributes)) == (
        "u1",
        {},
        [],
    )


def test_user_patch_message_passes_through():
    patch = profile_service_pb2.UserPatch(user_id="u1", unset_attributes=["a"])
    assert _convert.to_user_patch(patch) is patch


@pytest.mark.parametrize(
    ("value", "error", "text"),
    [
        ({"user_id": "u1", "unset_attributes": "trial"}, TypeError, "not a single string"),
        ({"user_id": "u1", "attributes": {"a": "b"}}, ValueError, "invalid UserPatch"),
        ({"user_id": "u1", "set_attributes": {"a": 1}}, TypeError, "invalid UserPatch"),
        ("u1", TypeError, "expected a dict or an infogap.v1.UserPatch"),
    ],
)
def test_bad_user_patch_is_rejected_with_a_clear_error(value, error, text):
    with pytest.raises(error, match=text):
        _convert.to_user_patch(value)


def test_patches_split_into_batches_of_1000():
    patches = [{"user_id": f"u{i}", "set_attributes": {"n": str(i)}} for i in range(2001)]
    requests = _requests.patch_users_requests(patches)
    assert [len(r.patches) for r in requests] == [1000, 1000, 1]
    assert all(isinstance(r, profile_service_pb2.PatchUsersRequest) for r in requests)
    assert requests[2].patches[0].user_id == "u2000"
    assert _requests.patch_users_requests([]) == []


def test_a_malformed_patch_fails_before_any_request_is_built():
    patches = [{"user_id": f"u{i}"} for i in range(1500)] + [{"user_id": "x", "bad": 1}]
    with pytest.raises(ValueError, match="invalid UserPatch"):
        _requests.patch_users_requests(patches)


def test_patch_responses_are_summed():
    merged = _requests.merge_patch_users_responses(
        profile_service_pb2.PatchUsersResponse(patched_count=n) for n in (1000, 7)
    )
    assert merged == profile_service_pb2.PatchUsersResponse(patched_count=1007)


# --- GetProfile(s) ------------------------------------------------------------------------------


def timestamp(seconds):
    return Timestamp(seconds=seconds)


def test_profile_request_leaves_as_of_time_unset_by_default():
    request = _requests.get_profile_request("u1")
    assert request.user_id == "u1" and not request.HasField("as_of_time")


@pytest.mark.parametrize(
    "as_of",
    [
        datetime(2026, 3, 1, 12, 0),  # naive: UTC
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_as_of_becomes_as_of_time(as_of):
    expected = timestamp(int(datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()))
    assert _requests.get_profile_request("u1", as_of=as_of).as_of_time == expected
    (request,) = _requests.get_profiles_requests(["u1"], as_of=as_of)
    assert request.as_of_time == expected


def test_as_of_of_the_wrong_type_is_rejected():
    with pytest.raises(TypeError, match="datetime"):
        _requests.get_profile_request("u1", as_of="2026-03-01")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "sizes"), [(0, []), (1, [1]), (500, [500]), (501, [500, 1]), (1234, [500, 500, 234])]
)
def test_profiles_split_into_requests_of_500(count, sizes):
    ids = [f"u{i:05}" for i in range(count)]
    requests = _requests.get_profiles_requests(iter(ids))
    assert [len(r.user_ids) for r in requests] == sizes
    assert [user_id for r in requests for user_id in r.user_ids] == ids
    assert not any(r.HasField("as_of_time") for r in requests)


def test_every_profiles_request_has_the_same_as_of_time():
    requests = _requests.get_profiles_requests(
        [f"u{i}" for i in range(1001)], as_of=datetime(2026, 1, 1)
    )
    assert len(requests) == 3
    assert len({r.as_of_time.SerializeToString() for r in requests}) == 1
    assert requests[0].HasField("as_of_time")


def test_profiles_rejects_a_lone_string_and_repeated_ids():
    with pytest.raises(TypeError, match="not a single string"):
        _requests.get_profiles_requests("u1")
    # Repeats are caught even when they would fall in different requests.
    ids = ["u0", *(f"u{i}" for i in range(1, 600)), "u0"]
    with pytest.raises(ValueError, match="'u0' is repeated"):
        _requests.get_profiles_requests(ids)


def test_profiles_responses_are_merged_in_order():
    profile = profile_service_pb2.Profile
    merged = _requests.merge_get_profiles_responses(
        [
            profile_service_pb2.GetProfilesResponse(
                profiles=[profile(user_id="a"), profile(user_id="c")], missing_user_ids=["b"]
            ),
            profile_service_pb2.GetProfilesResponse(missing_user_ids=["d", "e"]),
            profile_service_pb2.GetProfilesResponse(profiles=[profile(user_id="f")]),
        ]
    )
    assert [p.user_id for p in merged.profiles] == ["a", "c", "f"]
    assert list(merged.missing_user_ids) == ["b", "d", "e"]
    assert _requests.merge_get_profiles_responses([]) == profile_service_pb2.GetProfilesResponse()


# --- segments -----------------------------------------------------------------------------------


def test_segment_requests():
    assert _requests.define_segment_request(
        "fans", "interest.tag:Comedy >= 0.3", description="comedy fans"
    ) == profile_service_pb2.DefineSegmentRequest(
        name="fans", rule="interest.tag:Comedy >= 0.3", description="comedy fans"
    )
    assert _requests.delete_segment_request("fans") == profile_service_pb2.DeleteSegmentRequest(
        name="fans"
    )
    assert _requests.list_segments_request() == profile_service_pb2.ListSegmentsRequest()
    assert _requests.segment_members_request(
        "fans", page_size=10, page_token="t"
    ) == profile_service_pb2.GetSegmentMembersRequest(name="fans", page_size=10, page_token="t")


def test_segment_member_pages_follow_the_next_page_token():
    first = _requests.segment_members_request("fans", page_size=2, page_token="")
    page = profile_service_pb2.GetSegmentMembersResponse(user_ids=["a", "b"], next_page_token="t1")
    second = _requests.next_segment_members_request(first, page)
    assert second == profile_service_pb2.GetSegmentMembersRequest(
        name="fans", page_size=2, page_token="t1"
    )
    last = profile_service_pb2.GetSegmentMembersResponse(user_ids=["c"])
    assert second is not None
    assert _requests.next_segment_members_request(second, last) is None


def test_a_repeated_page_token_ends_the_iteration_with_an_error():
    request = _requests.segment_members_request("fans", page_size=2, page_token="t1")
    page = profile_service_pb2.GetSegmentMembersResponse(user_ids=["a"], next_page_token="t1")
    with pytest.raises(InfoGapError) as caught:
        _requests.next_segment_members_request(request, page)
    assert caught.value.code == grpc.StatusCode.INTERNAL


# --- the clients' paging, with a fake stub ------------------------------------------------------


class FakeMembersStub:
    """GetSegmentMembers over a fixed member list, recording the requests it gets."""

    def __init__(self, members, *, asynchronous=False):
        self.members = members
        self.requests = []
        self.asynchronous = asynchronous

    def page(self, request):
        self.requests.append(request)
        start = int(request.page_token or 0)
        end = start + request.page_size
        return profile_service_pb2.GetSegmentMembersResponse(
            user_ids=self.members[start:end],
            next_page_token=str(end) if end < len(self.members) else "",
        )

    def GetSegmentMembers(self, request, timeout=None, metadata=None):
        if not self.asynchronous:
            return self.page(request)

        async def call():
            return self.page(request)

        return call()


def test_client_iterates_segment_members_page_by_page():
    members = [f"u{i}" for i in range(7)]
    with Client("localhost:1") as client:
        client._profiles = stub = FakeMembersStub(members)  # type: ignore[assignment]
        assert list(client.iter_segment_members("fans", page_size=3)) == members
    assert [(r.page_size, r.page_token) for r in stub.requests] == [(3, ""), (3, "3"), (3, "6")]


def test_async_client_iterates_segment_members_page_by_page():
    import asyncio

    members = [f"u{i}" for i in range(4)]

    async def main():
        async with AsyncClient("localhost:1") as client:
            stub = FakeMembersStub(members, asynchronous=True)
            client._connection.profiles = stub  # type: ignore[assignment]
            iterator = client.iter_segment_members("fans", page_size=2)
            assert inspect.isasyncgen(iterator)
            return [user_id async for user_id in iterator], stub

    got, stub = asyncio.run(main())
    assert got == members
    assert [r.page_token for r in stub.requests] == ["", "2"]


def test_new_methods_exist_on_both_clients():
    for name in (
        "patch_users",
        "profiles",
        "define_segment",
        "delete_segment",
        "list_segments",
        "segment_members",
    ):
        assert callable(getattr(Client, name))
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name))
    assert "as_of" in inspect.signature(Client.profile).parameters
    assert "as_of" in inspect.signature(AsyncClient.profile).parameters
