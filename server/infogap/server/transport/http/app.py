"""What the HTTP port serves, mounted in one place: the Connect protocol for every RPC,
``/healthz`` and ``/readyz`` for load balancers, and the HTTP-only endpoints."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from infogap.server.config import Settings
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.connect import CallObserver, connect_applications
from infogap.server.transport.http.console.app import Console, redirect_to_console
from infogap.server.transport.http.cors import Cors
from infogap.server.transport.http.gate import HttpGate
from infogap.server.transport.http.metrics_endpoint import metrics_endpoint
from infogap.server.transport.http.responses import StartResponse, WSGIApp, json_response
from infogap.server.transport.http.router import Router
from infogap.server.transport.http.segment import PREFIX as SEGMENT_PREFIX
from infogap.server.transport.http.segment import SegmentApp


class Readiness:
    """Whether this process wants new traffic: from its start until a drain begins. gRPC
    health and ``/readyz`` both follow it."""

    def __init__(self) -> None:
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def set(self, ready: bool) -> None:
        if ready:
            self._ready.set()
        else:
            self._ready.clear()


def _healthz(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Liveness: the process answers."""
    return json_response(start_response, 200, {"status": "SERVING"})


def _readyz(readiness: Readiness) -> Any:
    def readyz(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Readiness: 200 while traffic is wanted, 503 before the start and while draining."""
        if readiness.ready:
            return json_response(start_response, 200, {"status": "SERVING"})
        return json_response(start_response, 503, {"status": "NOT_SERVING"})

    return readyz


def build_http_app(
    core: InfoGap,
    settings: Settings,
    *,
    servicers: dict[str, object],
    readiness: Readiness,
    gate: HttpGate,
    observe: CallObserver | None = None,
    metrics_registry: CollectorRegistry | None = None,
    tracer: Tracer | None = None,
) -> WSGIApp:
    """The HTTP port's application. ``servicers`` are gRPC's, by service name; Connect calls
    go through them. ``observe`` hears of every Connect call, and ``tracer`` spans each; ``metrics_registry`` is served
    at ``/metrics`` (None: no such path). With ``http.cors_origins``, browsers on those
    origins may call it (``cors.Cors``)."""
    router = Router()
    applications = connect_applications(
        servicers, gate.admission, settings.limits.max_message_bytes, observe, tracer
    )
    for prefix, application in applications.items():
        router.mount(prefix, application)
    router.mount("/healthz", _healthz)
    router.mount("/readyz", _readyz(readiness))
    router.mount(SEGMENT_PREFIX, SegmentApp(core, settings, gate))
    if metrics_registry is not None:
        router.mount("/metrics", metrics_endpoint(metrics_registry, gate))
    router.mount("/console/", Console(core, gate))
    router.mount("/console", redirect_to_console)
    return Cors(router, settings.http.cors_origins) if settings.http.cors_origins else router
