"""OpenTelemetry tracing of gRPC calls, exported over OTLP/gRPC to a real (tiny) trace
receiver on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from infogap.client import Client, InvalidArgumentError

from ...conftest import StartServer, load
from ...http_calls import rpc
from ...synthetic import TwoTastes

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every exported span as (service.name, span name, status code): gRPC's number in
    ``rpc.grpc.status_code``, or Connect's name in ``rpc.connect_rpc.error_code``."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, int | str]] = []
        self.trace_ids: dict[str, set[str]] = {}  # span name -> the hex trace ids seen
        self._lock = threading.Lock()

    def Export(  # the generated servicer's name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next(
                    attribute.value.string_value
                    for attribute in resource_spans.resource.attributes
                    if attribute.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        code = next(
                            a.value.int_value
                            if a.key == "rpc.grpc.status_code"
                            else a.value.string_value
                            for a in span.attributes
                            if a.key in ("rpc.grpc.status_code", "rpc.connect_rpc.error_code")
                        )
                        self.spans.append((service, span.name, code))
                        self.trace_ids.setdefault(span.name, set()).add(span.trace_id.hex())
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def receiver() -> Iterator[tuple[TraceReceiver, str]]:
    """A receiver and its endpoint URL."""
    spans = TraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(spans, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield spans, f"http://127.0.0.1:{port}"
    server.stop(0)


def test_every_call_sends_a_span_named_after_its_method(
    start_server: StartServer, receiver, tastes: TwoTastes
):
    spans, endpoint = receiver
    server = start_server(
        telemetry={"otlp_endpoint": endpoint, "service_name": "infogap-test"}, http={"port": 0}
    )
    assert server.tracing is not None
    with Client(server.address, timeout=30) as client:
        load(client, tastes)
        client.train()
        client.recommend(tastes.users[0]["user_id"])
        with pytest.raises(InvalidArgumentError):
            client.recommend(tastes.users[0]["user_id"], count=-1)
    # Connect calls are spanned alike (their codes are Connect's, in rpc.connect_rpc.error_code).
    assert rpc(server.http_url, "AdminService/ListPlugins", {})[0] == 200
    # A caller's trace is continued (W3C traceparent).
    parent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    assert rpc(server.http_url, "AdminService/ListPlugins", {}, headers=parent)[0] == 200
    assert server.tracing.flush()
    recommend = [s for s in spans.spans if s[1] == "/infogap.v1.RecommendService/Recommend"]
    assert {service for service, _, _ in recommend} == {"infogap-test"}
    # One span per call, with its status code: OK, then INVALID_ARGUMENT.
    assert sorted(code for _, _, code in recommend) == [
        grpc.StatusCode.OK.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
    ]
    names = {name for _, name, _ in spans.spans}
    assert "/infogap.v1.AdminService/Train" in names
    assert "/infogap.v1.FeedbackService/RecordEvents" in names
    assert ("infogap-test", "/infogap.v1.AdminService/ListPlugins", "ok") in spans.spans
    assert TRACE_ID in spans.trace_ids["/infogap.v1.AdminService/ListPlugins"]


def test_tracing_is_off_by_default(server):
    assert server.tracing is None
