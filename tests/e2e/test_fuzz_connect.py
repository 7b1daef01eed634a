"""Fuzzing of the Connect transport: every unary RPC with generated requests sent as JSON,
and bodies that are not JSON at all. No answer is ``internal`` or ``unknown`` (HTTP 500), and
none leaks a traceback. The gRPC fuzzing (test_fuzz.py) checks the stored data as well; the
calls reach the same servicers.
"""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from infogap.client import Client

from .. import rpcs
from ..conftest import load, make_settings
from ..http_calls import call
from ..strategies import requests
from .test_fuzz import EXAMPLES_SHARE

NEVER = {"internal", "unknown"}
# A tenth of the gRPC fuzzing's cases: the parsing differs, the servicers do not.
SHARE = 0.1
UNARY = sorted(name for name, method in rpcs.by_name().items() if not method.client_streaming)


@pytest.fixture(scope="module")
def http_url(tmp_path_factory, tastes):
    from infogap.server.transport.server import InfoGapServer

    settings_ = make_settings(tmp_path_factory.mktemp("fuzz-connect"), http={"port": 0})
    server = InfoGapServer(settings_).start()
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
    yield server.http_url
    server.stop(grace=0)


def _check(rpc: str, status: int, answer: object) -> None:
    assert status < 500 or status == 503, f"{rpc}: HTTP {status} {answer}"
    if isinstance(answer, dict) and "code" in answer:
        assert answer["code"] not in NEVER, f"{rpc}: {answer}"
    assert "Traceback" not in str(answer), f"{rpc} leaked a traceback"


@pytest.mark.parametrize("rpc", UNARY)
def test_generated_json_requests_never_fail_internally(http_url, rpc):
    method = rpcs.by_name()[rpc]
    path = f"{http_url}/{method.containing_service.full_name}/{method.name}"
    examples = max(2, round(settings().max_examples * SHARE * EXAMPLES_SHARE.get(rpc, 1.0)))

    @settings(max_examples=examples)
    @given(request=requests(method))
    def check(request) -> None:
        try:
            body = json_format.MessageToDict(request)
        except json_format.SerializeToJsonError:  # e.g. a Duration JSON cannot spell: binary
            status, answer = call(
                path,
                raw=request.SerializeToString(),
                headers={"Content-Type": "application/proto"},
                timeout=60,
            )
        else:
            status, answer = call(path, body, timeout=60)
        _check(rpc, status, answer)

    check()


@settings(max_examples=max(5, round(settings().max_examples * SHARE * 4)))
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.sampled_from(["userId", "count", "events", "x"]), inner)
            ),
            max_leaves=10,
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_bodies_that_are_not_requests_are_refused_cleanly(http_url, body):
    status, answer = call(f"{http_url}/infogap.v1.RecommendService/Recommend", raw=body)
    _check("Recommend", status, answer)
