"""Request counts and latencies per RPC and status code, for gRPC (an interceptor) and for the
HTTP transports (``RpcMetrics.observe_rpc``). ``transport.http.metrics_endpoint`` serves them."""

from __future__ import annotations

import time
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from infogap.server.core.metrics import ChildrenByLabels
from infogap.server.transport.interceptors import Behavior, WrappingInterceptor

# From a cached Recommend (~1 ms) to a Train (minutes).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


# Connect's codes that gRPC spells otherwise, in capitals.
CONNECT_SPELLINGS = {"CANCELED": "CANCELLED"}


class RpcMetrics:
    """``infogap_rpc_requests_total`` and ``infogap_rpc_duration_seconds``, labelled by
    transport (grpc, connect...), method (``/infogap.v1.RecommendService/Recommend``) and code
    (the status name in capitals: OK, INVALID_ARGUMENT...)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        requests = Counter(
            "infogap_rpc_requests",
            "Calls finished, by transport, method and status code.",
            ["transport", "method", "code"],
            registry=registry,
        )
        durations = Histogram(
            "infogap_rpc_duration_seconds",
            "Time from a call's arrival at the server to its answer, by transport, method and "
            "status code.",
            ["transport", "method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._children = ChildrenByLabels(requests, durations)

    def observe_rpc(self, transport: str, method: str, code: str, seconds: float) -> None:
        """Counts one finished call. ``code`` is a gRPC status name or a Connect code
        (``invalid_argument``); both are recorded in capitals, so they compare."""
        upper = code.upper()
        requests, durations = self._children(transport, method, CONNECT_SPELLINGS.get(upper, upper))
        requests.inc()
        durations.observe(seconds)


class MetricsInterceptor(WrappingInterceptor):
    """Times every gRPC call and records it with the status it ended with. Installed first, so
    that calls refused by authentication count too."""

    def __init__(self, metrics: RpcMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        observe = self._metrics.observe_rpc

        def timed(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                response = behavior(request, context)
            except BaseException:
                observe(
                    "grpc", method, _code_name(context, grpc.StatusCode.UNKNOWN), _since(started)
                )
                raise
            observe("grpc", method, _code_name(context, grpc.StatusCode.OK), _since(started))
            return response

        return timed


def _since(started: float) -> float:
    return time.perf_counter() - started


def _code_name(context: grpc.ServicerContext, default: grpc.StatusCode) -> str:
    """The status the servicer or an inner interceptor set (abort sets it), else ``default``."""
    code = context.code()  # type: ignore[attr-defined]  # grpc >= 1.38
    if isinstance(code, grpc.StatusCode):
        return code.name
    return default.name
