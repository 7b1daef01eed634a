"""Property-based fuzzing of every RPC of the API, read from the generated descriptors:
no call ends in INTERNAL or UNKNOWN or leaks a traceback, and a rejected call changes nothing
stored.

The default run (``make test``) tries 60 cases per RPC; ``HYPOTHESIS_PROFILE=thorough``
(``make fuzz``, run by CI) tries 2,000. RPCs that train models run fewer (``EXAMPLES_SHARE``).
"""

from __future__ import annotations

import os

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings

from infogap.client import Client

from .. import rpcs
from ..conftest import load, make_settings
from ..strategies import requests

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
TABLES = ("users", "items", "events", "segments", "models", "training_runs", "experiments")
# The share of the profile's examples (at least 3) for RPCs that train: 200 and 40 of
# make fuzz's 2,000. An accepted Train takes about a second, an accepted EvaluateModels
# several (it trains every candidate on throwaway servers).
EXAMPLES_SHARE = {"Train": 0.1, "EvaluateModels": 0.02}
# Every RPC of the descriptors: a meta-test checks that this is what the test runs over.
FUZZED = sorted(rpcs.by_name())


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory, tastes):
    from infogap.server.transport.server import InfoGapServer

    server = InfoGapServer(make_settings(tmp_path_factory.mktemp("fuzz"))).start()
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
    channel = grpc.insecure_channel(server.address)
    yield server, channel
    channel.close()
    server.stop(grace=0)


def snapshot(server) -> dict[str, tuple]:
    """Row count and content hash of each table, in one query: it runs before every call."""
    query = " UNION ALL ".join(f"SELECT '{t}', count(*), sum(hash({t})) FROM {t}" for t in TABLES)
    return {table: rest for table, *rest in server.core._store.cursor().execute(query).fetchall()}


def callable_for(channel: grpc.Channel, method: MethodDescriptor):
    """A multi-callable for ``method`` built from its descriptor, streaming kinds included;
    it returns the response, or the list of responses of a server-streaming RPC."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    response = GetMessageClass(method.output_type)
    kind = {
        (False, False): channel.unary_unary,
        (True, False): channel.stream_unary,
        (False, True): channel.unary_stream,
        (True, True): channel.stream_stream,
    }[method.client_streaming, method.server_streaming]
    call = kind(
        path,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=response.FromString,
    )

    def invoke(request, timeout: float):
        sent = iter(request) if method.client_streaming else request
        answer = call(sent, timeout=timeout)
        return list(answer) if method.server_streaming else answer

    return invoke


@pytest.mark.parametrize("rpc", FUZZED)
def test_generated_requests_never_fail_internally(fuzz_target, rpc):
    server, channel = fuzz_target
    method = rpcs.by_name()[rpc]
    call = callable_for(channel, method)
    examples = max(3, round(settings().max_examples * EXAMPLES_SHARE.get(rpc, 1.0)))

    # What is stored since the last accepted call: nothing writes in the background (no
    # automatic retraining in the test settings), so one snapshot per call is enough.
    stored = [snapshot(server)]

    @settings(max_examples=examples)
    @given(request=requests(method))
    def check(request) -> None:
        try:
            call(request, timeout=60)
        except grpc.RpcError as error:
            assert error.code() not in NEVER, f"{rpc}: {error.code()} {error.details()}"
            assert "Traceback" not in (error.details() or ""), f"{rpc} leaked a traceback"
            assert snapshot(server) == stored[0], f"{rpc} changed stored data on {error.code()}"
        else:
            stored[0] = snapshot(server)

    check()
