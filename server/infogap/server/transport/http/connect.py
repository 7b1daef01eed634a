"""The Connect protocol for the four InfoGap services: connectrpc's generated WSGI
applications, each over the very servicer gRPC calls, so both transports answer alike.

An interceptor does for Connect what the gRPC interceptors do: it refuses calls whose
deadline passed, admits keys and scopes (``transport.auth.Admission``), and maps domain
errors to Connect's codes with the same ``google.rpc.BadRequest`` field violations. Anything
else is a bug: logged, and answered ``internal`` without internals.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.request import RequestContext
from connectrpc.server import ConnectWSGIApplication
from google.protobuf import json_format
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from protobuf.wkt import Any as AnyMessage

from infogap.server.core.errors import InfoGapError
from infogap.server.transport.auth import Admission, Refusal
from infogap.server.transport.http.gate import connect_code
from infogap.server.transport.http.generated import (
    admin_service_connect,
    feedback_service_connect,
    profile_service_connect,
    recommend_service_connect,
)
from infogap.server.transport.status import domain_status
from infogap.v1 import (
    admin_service_pb2,
    feedback_service_pb2,
    profile_service_pb2,
    recommend_service_pb2,
)

log = logging.getLogger(__name__)

# Each service: its name, its messages' module (for the descriptor), its generated Connect code.
_SERVICES = (
    ("FeedbackService", feedback_service_pb2, feedback_service_connect),
    ("ProfileService", profile_service_pb2, profile_service_connect),
    ("RecommendService", recommend_service_pb2, recommend_service_connect),
    ("AdminService", admin_service_pb2, admin_service_connect),
)

# The codes that are the server's fault: the span's status is ERROR for them (as the gRPC
# instrumentation does), not for a caller's bad request.
_SERVER_FAULTS = frozenset({"internal", "unknown", "unavailable", "data_loss", "unimplemented"})

# (transport, full method name, Connect code, seconds): what each call is reported as.
CallObserver = Callable[[str, str, str, float], None]


class _CallContext:
    """What the servicers ask of a gRPC context (is the caller still waiting?), answered
    from a Connect request's deadline."""

    def __init__(self, ctx: RequestContext[Any, Any]) -> None:
        self._ctx = ctx

    def is_active(self) -> bool:
        remaining = self._ctx.timeout_ms
        return remaining is None or remaining > 0


class _CompactJsonCodec:
    """Connect's JSON codec, answering compact JSON: connectrpc's indents it, and indented
    output takes the standard library's pure-Python encoder (three times the whole call's
    cost in the server, measured on Recommend). Requests are decoded as connectrpc does."""

    def __init__(self) -> None:
        self._decoding = google_protobuf_json_codec()

    def name(self) -> str:
        return "json"

    def encode(self, message: Message) -> bytes:
        return json.dumps(
            json_format.MessageToDict(message), separators=(",", ":"), ensure_ascii=False
        ).encode()

    def decode(self, data: bytes | bytearray, message_class: type[Message]) -> Message:
        return self._decoding.decode(data, message_class)


_CODECS = (google_protobuf_binary_codec(), _CompactJsonCodec())


def _snake_case(name: str) -> str:
    """``GetProfile`` -> ``get_profile``: the method names of connectrpc's services."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _delegating_service(servicer: object, service: ServiceDescriptor) -> object:
    """An object whose snake_case methods call ``servicer``'s gRPC methods with a
    ``_CallContext``: the servicer's request and response types are Connect's too."""

    def delegate(grpc_method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        return lambda request, ctx: grpc_method(request, _CallContext(ctx))

    delegating = type(f"Connect{service.name}", (), {})()
    for method in service.methods:
        setattr(delegating, _snake_case(method.name), delegate(getattr(servicer, method.name)))
    return delegating


def _connect_error(error: InfoGapError) -> ConnectError:
    """The Connect error of a domain error, with its gRPC status's details (BadRequest)."""
    status = domain_status(error)
    details = [
        ErrorDetail(AnyMessage(type_url=detail.type_url, value=detail.value))
        for detail in status.details
    ]
    return ConnectError(Code(connect_code(error.status)), error.message, details)


class ConnectGuard:
    """The Connect interceptor: deadline, admission, domain errors, and the call's report."""

    def __init__(
        self,
        admission: Admission,
        observe: CallObserver | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._admission = admission
        self._observe = observe
        self._tracer = tracer

    def intercept_unary_sync(
        self, call_next: Callable[[Any, Any], Any], request: Any, ctx: RequestContext[Any, Any]
    ) -> Any:
        return self._guarded(call_next, request, ctx)

    def intercept_client_stream_sync(
        self,
        call_next: Callable[[Iterator[Any], Any], Any],
        request: Iterator[Any],
        ctx: RequestContext[Any, Any],
    ) -> Any:
        return self._guarded(call_next, request, ctx)

    def _guarded(self, call_next: Callable[[Any, Any], Any], request: Any, ctx: Any) -> Any:
        method = f"/{ctx.method.service_name}/{ctx.method.name}"
        if self._tracer is None:
            return self._observed(call_next, request, ctx, method, None)
        # A span like the gRPC instrumentation's, named after the method, continuing the
        # caller's trace when it sent one (W3C traceparent).
        with self._tracer.start_as_current_span(
            method,
            context=extract(ctx.request_headers),
            kind=SpanKind.SERVER,
            attributes={
                "rpc.system": "connect_rpc",
                "rpc.service": ctx.method.service_name,
                "rpc.method": ctx.method.name,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            return self._observed(call_next, request, ctx, method, span)

    def _observed(
        self, call_next: Callable[[Any, Any], Any], request: Any, ctx: Any, method: str, span: Any
    ) -> Any:
        started = time.perf_counter()
        code = "internal"  # unless the call ends otherwise: every error becomes ConnectError
        try:
            response = self._answer(call_next, request, ctx, method)
            code = "ok"
            return response
        except ConnectError as error:
            code = error.code.value
            raise
        finally:
            if span is not None:
                span.set_attribute("rpc.connect_rpc.error_code", code)
                if code in _SERVER_FAULTS:
                    span.set_status(Status(StatusCode.ERROR, code))
            if self._observe is not None:
                self._observe("connect", method, code, time.perf_counter() - started)

    def _answer(
        self, call_next: Callable[[Any, Any], Any], request: Any, ctx: Any, method: str
    ) -> Any:
        remaining = ctx.timeout_ms
        if remaining is not None and remaining <= 0:
            raise ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded before the call started")
        try:
            self._admission.admit_method(method, ctx.request_headers.getall("authorization"))
        except Refusal as refusal:
            raise ConnectError(Code(connect_code(refusal.code.name)), refusal.message) from None
        try:
            return call_next(request, ctx)
        except InfoGapError as error:
            raise _connect_error(error) from None
        except ConnectError:  # connectrpc's own (a malformed message, a stream cut short)
            raise
        except Exception:
            log.exception("unexpected error in %s (Connect)", method)
            raise ConnectError(Code.INTERNAL, "internal error; see the server log") from None


def connect_applications(
    servicers: dict[str, object],
    admission: Admission,
    read_max_bytes: int,
    observe: CallObserver | None = None,
    tracer: Tracer | None = None,
) -> dict[str, ConnectWSGIApplication]:
    """The Connect WSGI application of each service by its path prefix
    (``/infogap.v1.RecommendService/``), over ``servicers`` keyed by service name
    (``"RecommendService"``)."""
    guard = [ConnectGuard(admission, observe, tracer)]
    applications: dict[str, ConnectWSGIApplication] = {}
    for name, messages, generated in _SERVICES:
        application_class = getattr(generated, f"{name}WSGIApplication")
        service = _delegating_service(servicers[name], messages.DESCRIPTOR.services_by_name[name])
        application = application_class(
            service, interceptors=guard, read_max_bytes=read_max_bytes, codecs=_CODECS
        )
        applications[f"{application.path}/"] = application
    return applications
