"""Property-based fuzzing of every mutating and reading RPC with generated request messages:
no call ends in INTERNAL or UNKNOWN, and a rejected call changes nothing stored.

The default run tries 150 cases per RPC; ``HYPOTHESIS_PROFILE=thorough`` (``make fuzz``,
run by CI) tries 2,000.
"""

from __future__ import annotations

import math
import os

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infogap.client import Client
from infogap.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    entities_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    profile_service_pb2,
    profile_service_pb2_grpc,
    recommend_service_pb2,
    recommend_service_pb2_grpc,
)

from ..conftest import load

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
TABLES = ("users", "items", "events", "segments", "models", "training_runs", "experiments")

# Strings that hit the edges: empty, control characters, long, unicode, known ids.
texts = st.one_of(
    st.text(max_size=12),
    st.text(min_size=250, max_size=300),
    st.sampled_from(
        ["", " ", "\t", "\x00", "red-user-0", "red-item-1", "default", "view", "purchase"]
    ),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 5.0, math.nan])
)
timestamps = st.one_of(
    st.none(),
    st.builds(
        Timestamp,
        seconds=st.integers(min_value=-62135596800, max_value=253402300799),
        nanos=st.integers(min_value=0, max_value=999_999_999),
    ),
)
string_maps = st.dictionaries(texts, texts, max_size=4)


@st.composite
def events(draw: st.DrawFn) -> entities_pb2.Event:
    event = entities_pb2.Event(
        event_id=draw(texts),
        user_id=draw(texts),
        item_id=draw(texts),
        catalog=draw(texts),
        type=draw(texts),
        value=draw(numbers),
        recommendation_id=draw(texts),
        context=draw(string_maps),
    )
    time = draw(timestamps)
    if time is not None:
        event.time.CopyFrom(time)
    return event


users = st.builds(entities_pb2.User, user_id=texts, attributes=string_maps)
items = st.builds(
    entities_pb2.Item,
    item_id=texts,
    catalog=texts,
    attributes=string_maps,
    tags=st.lists(texts, max_size=4),
    active=st.booleans(),
)
filters = st.builds(
    recommend_service_pb2.RecommendationFilter,
    include_tags=st.lists(texts, max_size=3),
    exclude_tags=st.lists(texts, max_size=3),
    exclude_item_ids=st.lists(texts, max_size=3),
)
counts = st.integers(min_value=-(2**31), max_value=2**31 - 1)
variants = st.builds(
    admin_service_pb2.ExperimentVariant,
    name=texts,
    share=numbers,
    strategies=st.lists(st.one_of(texts, st.sampled_from(["lightfm", "popularity"])), max_size=3),
    blend=st.booleans(),
    model_version=texts,
    excluded_rerankers=st.lists(texts, max_size=2),
)
experiments = st.builds(
    admin_service_pb2.Experiment,
    name=texts,
    catalog=texts,
    description=texts,
    variants=st.lists(variants, max_size=4),
    attribution_window=st.builds(
        Duration,
        seconds=st.integers(min_value=-(10**9), max_value=10**9),
        nanos=st.integers(min_value=0, max_value=999_999_999),
    ),
)

# RPC name -> (stub attribute, method, request strategy)
CALLS = {
    "RecordEvents": (
        "feedback",
        "RecordEvents",
        st.builds(feedback_service_pb2.RecordEventsRequest, events=st.lists(events(), max_size=5)),
    ),
    "UpsertUsers": (
        "profile",
        "UpsertUsers",
        st.builds(profile_service_pb2.UpsertUsersRequest, users=st.lists(users, max_size=4)),
    ),
    "UpsertItems": (
        "profile",
        "UpsertItems",
        st.builds(profile_service_pb2.UpsertItemsRequest, items=st.lists(items, max_size=4)),
    ),
    "PatchUsers": (
        "profile",
        "PatchUsers",
        st.builds(
            profile_service_pb2.PatchUsersRequest,
            patches=st.lists(
                st.builds(
                    profile_service_pb2.UserPatch,
                    user_id=texts,
                    set_attributes=string_maps,
                    unset_attributes=st.lists(texts, max_size=3),
                ),
                max_size=3,
            ),
        ),
    ),
    "GetProfile": (
        "profile",
        "GetProfile",
        st.builds(profile_service_pb2.GetProfileRequest, user_id=texts),
    ),
    "GetProfiles": (
        "profile",
        "GetProfiles",
        st.builds(profile_service_pb2.GetProfilesRequest, user_ids=st.lists(texts, max_size=5)),
    ),
    "DefineSegment": (
        "profile",
        "DefineSegment",
        st.builds(
            profile_service_pb2.DefineSegmentRequest,
            name=texts,
            rule=st.one_of(
                texts, st.text(alphabet='abcdefrmntuy._<>=!()"0123456789 ANDORNT:', max_size=40)
            ),
            description=texts,
        ),
    ),
    "GetSegmentMembers": (
        "profile",
        "GetSegmentMembers",
        st.builds(
            profile_service_pb2.GetSegmentMembersRequest,
            name=texts,
            page_size=counts,
            page_token=texts,
        ),
    ),
    "Recommend": (
        "recommend",
        "Recommend",
        st.builds(
            recommend_service_pb2.RecommendRequest,
            user_id=texts,
            catalog=texts,
            count=counts,
            filter=filters,
            include_seen=st.booleans(),
        ),
    ),
    "SimilarItems": (
        "recommend",
        "SimilarItems",
        st.builds(
            recommend_service_pb2.SimilarItemsRequest,
            item_id=texts,
            catalog=texts,
            count=counts,
            filter=filters,
        ),
    ),
    "RankItems": (
        "recommend",
        "RankItems",
        st.builds(
            recommend_service_pb2.RankItemsRequest,
            user_id=texts,
            catalog=texts,
            item_ids=st.lists(texts, max_size=6),
        ),
    ),
    "GetModelInfo": (
        "admin",
        "GetModelInfo",
        st.builds(admin_service_pb2.GetModelInfoRequest, catalog=texts),
    ),
    "DeleteUser": (
        "admin",
        "DeleteUser",
        st.builds(admin_service_pb2.DeleteUserRequest, user_id=st.one_of(texts, st.just(""))),
    ),
    "CreateExperiment": (
        "admin",
        "CreateExperiment",
        st.builds(admin_service_pb2.CreateExperimentRequest, experiment=experiments),
    ),
    "StartExperiment": (
        "admin",
        "StartExperiment",
        st.builds(admin_service_pb2.StartExperimentRequest, name=texts),
    ),
    "GetExperimentReport": (
        "admin",
        "GetExperimentReport",
        st.builds(admin_service_pb2.GetExperimentReportRequest, name=texts),
    ),
}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory, tastes):
    from infogap.server.transport.server import InfoGapServer

    from ..conftest import make_settings

    server = InfoGapServer(make_settings(tmp_path_factory.mktemp("fuzz"))).start()
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
    channel = grpc.insecure_channel(server.address)
    stubs = {
        "feedback": feedback_service_pb2_grpc.FeedbackServiceStub(channel),
        "profile": profile_service_pb2_grpc.ProfileServiceStub(channel),
        "recommend": recommend_service_pb2_grpc.RecommendServiceStub(channel),
        "admin": admin_service_pb2_grpc.AdminServiceStub(channel),
    }
    yield server, stubs
    channel.close()
    server.stop(grace=0)


def snapshot(server) -> dict[str, tuple]:
    db = server.core._store.cursor()
    return {t: db.execute(f"SELECT count(*), sum(hash({t})) FROM {t}").fetchone() for t in TABLES}


@pytest.mark.parametrize("rpc", sorted(CALLS))
def test_generated_requests_never_fail_internally(fuzz_target, rpc):
    server, stubs = fuzz_target
    stub_name, method, requests = CALLS[rpc]
    call = getattr(stubs[stub_name], method)

    @given(request=requests)
    def check(request) -> None:
        before = snapshot(server)
        try:
            call(request, timeout=30)
        except grpc.RpcError as error:
            assert error.code() not in NEVER, f"{rpc}: {error.code()} {error.details()}"
            assert snapshot(server) == before, f"{rpc} changed stored data on {error.code()}"

    check()
