"""OpenTelemetry tracing of every gRPC call, sent over OTLP/gRPC to ``telemetry.otlp_endpoint``.

Each server has a ``TracerProvider`` of its own (never the process-wide one), so servers in one
process trace apart and stopping one flushes and closes only its exporter.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from infogap.server.config.telemetry import TelemetrySettings
from infogap.server.transport.interceptors import Behavior, WrappingInterceptor


class RpcTracing:
    """A span per call (named after the method, e.g. ``/infogap.v1.RecommendService/Recommend``),
    batched and exported to the OTLP endpoint."""

    def __init__(self, telemetry: TelemetrySettings) -> None:
        if telemetry.otlp_endpoint is None:
            raise ValueError("RpcTracing needs telemetry.otlp_endpoint")
        self.provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: telemetry.service_name})
        )
        # http:// endpoints are sent in plain text, https:// ones over TLS.
        exporter = OTLPSpanExporter(endpoint=telemetry.otlp_endpoint)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))

    def interceptors(self) -> list[grpc.ServerInterceptor]:
        """The server interceptors that open each call's span and give it the call's status,
        in this order, first of the server's."""
        spans: grpc.ServerInterceptor = server_interceptor(tracer_provider=self.provider)
        return [spans, SpanStatusInterceptor()]

    def connect_tracer(self) -> Tracer:
        """The tracer of the Connect calls of the HTTP port (``transport.http.connect``)."""
        return self.provider.get_tracer("infogap.connect")

    def flush(self, timeout_seconds: float = 5.0) -> bool:
        """Exports the spans finished so far; False when the endpoint did not take them in time."""
        return bool(self.provider.force_flush(int(timeout_seconds * 1000)))

    def close(self) -> None:
        """Exports what is left and stops the exporter."""
        self.provider.shutdown()


class SpanStatusInterceptor(WrappingInterceptor):
    """Gives the span the status code of calls ended by ``abort_with_status`` (every domain
    error, see ``transport.status``): the instrumentation sees ``abort`` and ``set_code`` only,
    and would record them as OK. Setting the code again on its context wrapper records it on
    the span (``rpc.grpc.status_code``, and an ERROR status for the codes that are the
    server's fault); the call's own status is unchanged."""

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        def with_status(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return behavior(request, context)
            except Exception:
                code = context.code()  # type: ignore[attr-defined]  # grpc >= 1.38
                if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK:
                    details = context.details()  # type: ignore[attr-defined]
                    context.set_code(code)
                    if details:
                        decoded = details.decode() if isinstance(details, bytes) else details
                        context.set_details(decoded)
                raise

        return with_status
