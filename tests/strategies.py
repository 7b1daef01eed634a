"""Hypothesis strategies for InfoGap request messages.

``requests(method)`` draws requests for any RPC: a generic strategy built from the request's
message descriptor (every scalar type, enums with unknown values too, repeated and map
fields, nested messages, oneofs and proto3 optional fields, all with bounded sizes), mixed
with the domain-aware strategies below where the API has deep paths that random strings
rarely reach (known ids, segment rules, experiment variants).
"""

from __future__ import annotations

import math
from functools import cache

from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    OneofDescriptor,
)
from google.protobuf.descriptor_pb2 import DescriptorProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from infogap.v1 import (
    admin_service_pb2,
    entities_pb2,
    feedback_service_pb2,
    profile_service_pb2,
    recommend_service_pb2,
)

# Strings that hit the edges: empty, control characters, long, unicode, known ids. Long ones
# repeat one character: they are there for the length limits, and drawing 300 characters
# one by one would make them the bulk of the fuzzing time.
texts = st.one_of(
    st.text(max_size=12),
    st.builds(
        str.__mul__,
        st.characters(exclude_categories=["Cs"]),  # no lone surrogates: not UTF-8
        st.integers(min_value=250, max_value=300),
    ),
    st.sampled_from(
        ["", " ", "\t", "\x00", "red-user-0", "red-item-1", "default", "view", "purchase"]
    ),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 5.0, math.nan])
)
timestamps = st.builds(
    Timestamp,
    seconds=st.integers(min_value=-62135596800, max_value=253402300799),
    nanos=st.integers(min_value=0, max_value=999_999_999),
)
durations = st.builds(
    Duration,
    seconds=st.integers(min_value=-(10**9), max_value=10**9),
    nanos=st.integers(min_value=0, max_value=999_999_999),
)
string_maps = st.dictionaries(texts, texts, max_size=4)
counts = st.integers(min_value=-(2**31), max_value=2**31 - 1)

# --- generic: from a message descriptor -----------------------------------------------------

MAX_DEPTH = 4  # nested messages deeper than this stay unset (no InfoGap message recurses)
MAX_REPEATED = 4

_T = FieldDescriptor
_INTEGER_RANGES = {
    **dict.fromkeys((_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((_T.TYPE_UINT32, _T.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((_T.TYPE_UINT64, _T.TYPE_FIXED64), (0, 2**64 - 1)),
}
# Timestamps within the range protobuf converts to datetimes; durations within +-31 years.
_WELL_KNOWN = {"google.protobuf.Timestamp": timestamps, "google.protobuf.Duration": durations}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    # Small values (counts, page sizes, k) are where the limits are; the full range finds
    # overflows.
    return st.one_of(st.integers(max(low, -3), min(high, 1100)), st.integers(low, high))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:
    kind = field.type
    if kind == _T.TYPE_STRING:
        return texts
    if kind == _T.TYPE_BYTES:
        return st.binary(max_size=16)
    if kind == _T.TYPE_BOOL:
        return st.booleans()
    if kind == _T.TYPE_DOUBLE:
        return numbers
    if kind == _T.TYPE_FLOAT:
        return st.floats(width=32)
    if kind == _T.TYPE_ENUM:
        known = st.sampled_from([value.number for value in field.enum_type.values])
        # proto3 enums are open: a newer client may send a number this server does not know.
        return known if field.enum_type.is_closed else st.one_of(known, st.integers(-2, 40))
    return _integers(*_INTEGER_RANGES[kind])


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.type == _T.TYPE_MESSAGE:
        return messages(field.message_type, depth + 1)
    return _scalar(field)


def _real_oneofs(descriptor: Descriptor) -> list[OneofDescriptor]:
    # A proto3 ``optional`` field sits in a synthetic oneof of its own; the upb descriptors
    # do not say which oneofs are synthetic, the descriptor proto does.
    proto = DescriptorProto()
    descriptor.CopyToProto(proto)
    synthetic = {f.oneof_index for f in proto.field if f.proto3_optional}
    return [oneof for oneof in descriptor.oneofs if oneof.index not in synthetic]


@cache
def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Returns a strategy for messages of ``descriptor``: each field set or left unset, at most
    one field of each oneof, nested messages down to ``MAX_DEPTH``."""
    if descriptor.full_name in _WELL_KNOWN:
        return _WELL_KNOWN[descriptor.full_name]
    message_class = GetMessageClass(descriptor)
    real_oneofs = _real_oneofs(descriptor)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = message_class()
        chosen = {draw(st.sampled_from([None, *oneof.fields])) for oneof in real_oneofs}
        for field in descriptor.fields:
            in_real_oneof = field.containing_oneof in real_oneofs
            if (in_real_oneof and field not in chosen) or (
                field.type == _T.TYPE_MESSAGE and depth >= MAX_DEPTH
            ):
                continue
            _set(draw, message, field, depth, must=in_real_oneof)
        return message

    return build()


def _set(draw: st.DrawFn, message: Message, field: FieldDescriptor, depth: int, must: bool) -> None:
    """Draws a value for ``field`` into ``message``; ``must`` (a chosen oneof member) skips
    the coin that may leave a field with presence unset."""
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = (
            field.message_type.fields_by_name["key"],
            field.message_type.fields_by_name["value"],
        )
        entries = draw(st.dictionaries(_scalar(key), _value(value, depth), max_size=MAX_REPEATED))
        for k, v in entries.items():
            if value.type == _T.TYPE_MESSAGE:
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif field.is_repeated:
        target.extend(draw(st.lists(_value(field, depth), max_size=MAX_REPEATED)))
    elif not must and field.has_presence and not draw(st.booleans()):
        return  # an optional field or message left unset
    elif field.type == _T.TYPE_MESSAGE:
        target.CopyFrom(draw(_value(field, depth)))
    else:
        setattr(message, field.name, draw(_scalar(field)))


# --- domain-aware: known ids, rules, variants -----------------------------------------------


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
    time = draw(st.none() | timestamps)
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
strategy_names = st.one_of(texts, st.sampled_from(["lightfm", "popularity"]))
variants = st.builds(
    admin_service_pb2.ExperimentVariant,
    name=texts,
    share=numbers,
    strategies=st.lists(strategy_names, max_size=3),
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
    attribution_window=durations,
)
segment_rules = st.one_of(
    texts, st.text(alphabet='abcdefrmntuy._<>=!()"0123456789 ANDORNT:', max_size=40)
)

# RPC name -> requests reaching its deep paths (a stream of requests for StreamEvents).
DOMAIN: dict[str, st.SearchStrategy] = {
    "RecordEvents": st.builds(
        feedback_service_pb2.RecordEventsRequest, events=st.lists(events(), max_size=5)
    ),
    "StreamEvents": st.lists(
        st.builds(feedback_service_pb2.StreamEventsRequest, events=st.lists(events(), max_size=3)),
        max_size=3,
    ),
    "UpsertUsers": st.builds(
        profile_service_pb2.UpsertUsersRequest, users=st.lists(users, max_size=4)
    ),
    "UpsertItems": st.builds(
        profile_service_pb2.UpsertItemsRequest, items=st.lists(items, max_size=4)
    ),
    "PatchUsers": st.builds(
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
    "GetProfile": st.builds(profile_service_pb2.GetProfileRequest, user_id=texts),
    "GetProfiles": st.builds(
        profile_service_pb2.GetProfilesRequest, user_ids=st.lists(texts, max_size=5)
    ),
    "DefineSegment": st.builds(
        profile_service_pb2.DefineSegmentRequest,
        name=texts,
        rule=segment_rules,
        description=texts,
    ),
    "GetSegmentMembers": st.builds(
        profile_service_pb2.GetSegmentMembersRequest,
        name=texts,
        page_size=counts,
        page_token=texts,
    ),
    "Recommend": st.builds(
        recommend_service_pb2.RecommendRequest,
        user_id=texts,
        catalog=texts,
        count=counts,
        filter=filters,
        include_seen=st.booleans(),
    ),
    "SimilarItems": st.builds(
        recommend_service_pb2.SimilarItemsRequest,
        item_id=texts,
        catalog=texts,
        count=counts,
        filter=filters,
    ),
    "RankItems": st.builds(
        recommend_service_pb2.RankItemsRequest,
        user_id=texts,
        catalog=texts,
        item_ids=st.lists(texts, max_size=6),
    ),
    "GetModelInfo": st.builds(admin_service_pb2.GetModelInfoRequest, catalog=texts),
    "DeleteUser": st.builds(admin_service_pb2.DeleteUserRequest, user_id=texts),
    "CreateExperiment": st.builds(
        admin_service_pb2.CreateExperimentRequest, experiment=experiments
    ),
    "StartExperiment": st.builds(admin_service_pb2.StartExperimentRequest, name=texts),
    "GetExperimentReport": st.builds(admin_service_pb2.GetExperimentReportRequest, name=texts),
    # Small evaluations of the known strategies on the loaded catalog, so that the deep path
    # (throwaway servers, training, metrics) runs rather than only the validation.
    "EvaluateModels": st.builds(
        admin_service_pb2.EvaluateModelsRequest,
        catalog=st.sampled_from(["", "default"]),
        split=st.sampled_from(admin_service_pb2.EvaluationSplit.values()),
        k=st.integers(-1, 12),
        candidates=st.lists(strategy_names, max_size=2),
        max_users=st.integers(-1, 20),
        include_privacy=st.booleans(),
    ),
}


def requests(method: MethodDescriptor) -> st.SearchStrategy:
    """Returns a strategy for what a call of ``method`` sends: one request message, or a list
    of them for a client-streaming RPC."""
    generic = messages(method.input_type)
    if method.client_streaming:
        generic = st.lists(generic, max_size=MAX_REPEATED)
    domain = DOMAIN.get(method.name)
    return generic if domain is None else st.one_of(generic, domain)
