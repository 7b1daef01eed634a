"""The generic request strategy of the fuzz tests builds what each descriptor allows: at most
one field per oneof, maps, recursion cut at ``MAX_DEPTH``, and every RPC's request type."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from hypothesis import given, settings

from . import rpcs
from .strategies import MAX_DEPTH, messages, requests


def _depth(value: struct_pb2.Value) -> int:
    """Nesting depth of a Value: 1 for a scalar, more for structs and lists of values."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return 1 + max((_depth(v) for v in value.struct_value.fields.values()), default=0)
    if kind == "list_value":
        return 1 + max((_depth(v) for v in value.list_value.values), default=0)
    return 1


@settings(max_examples=200, deadline=None)
@given(value=messages(struct_pb2.Value.DESCRIPTOR))
def test_oneofs_get_at_most_one_field_and_recursion_stops(value):
    # google.protobuf.Value: a oneof "kind" over scalars, a Struct (a map of Values) and a list.
    assert len(value.ListFields()) <= 1
    assert _depth(value) <= MAX_DEPTH + 1


@pytest.mark.parametrize("rpc", sorted(rpcs.by_name()))
def test_every_rpc_gets_requests_of_its_input_type(rpc):
    method = rpcs.by_name()[rpc]

    @settings(max_examples=20, deadline=None)
    @given(drawn=requests(method))
    def check(drawn) -> None:
        for message in drawn if method.client_streaming else [drawn]:
            assert message.DESCRIPTOR.full_name == method.input_type.full_name

    check()
