"""Builds and runs the gRPC server: the InfoGap services, health, reflection, error mapping."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from infogap.server.config import Settings
from infogap.server.core.evaluation import HistoryEvaluator
from infogap.server.core.factory import build_core
from infogap.server.transport.auth import AuthInterceptor, check_listener, server_credentials
from infogap.server.transport.http.app import Readiness, build_http_app
from infogap.server.transport.http.gate import HttpGate
from infogap.server.transport.http.listener import HttpListener
from infogap.server.transport.metrics import MetricsInterceptor, RpcMetrics
from infogap.server.transport.pseudonyms import Pseudonyms
from infogap.server.transport.servicers import (
    AdminServicer,
    FeedbackServicer,
    ProfileServicer,
    RecommendServicer,
)
from infogap.server.transport.status import DomainErrorInterceptor
from infogap.server.transport.tracing import RpcTracing
from infogap.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    profile_service_pb2,
    profile_service_pb2_grpc,
    recommend_service_pb2,
    recommend_service_pb2_grpc,
)

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (feedback_service_pb2, "FeedbackService"),
        (profile_service_pb2, "ProfileService"),
        (recommend_service_pb2, "RecommendService"),
        (admin_service_pb2, "AdminService"),
    )
)


class InfoGapServer:
    """A running server. ``port`` is the bound port (useful when 0 was asked for).

    ``metrics_registry`` holds this server's Prometheus families (None with
    ``telemetry.metrics`` off); ``rpc_metrics`` records calls of other transports into it;
    ``tracing`` is set when ``telemetry.otlp_endpoint`` is.

    ``evaluator`` answers ``EvaluateModels``; without one (the throwaway servers of an
    evaluation) it answers FAILED_PRECONDITION. ``infogap.server.assembly.build_server`` gives
    a server the offline evaluation.

    :raises InsecureListenerError: when the settings would expose the server (see
        ``transport.auth.check_listener``); nothing is opened then.
    :raises StartupError: when the core refuses the configuration (see ``build_core``).
    """

    def __init__(
        self,
        settings: Settings,
        extra_plugins: Iterable[tuple[str, Any]] = (),
        *,
        evaluator: HistoryEvaluator | None = None,
    ) -> None:
        # Checked before the store is opened: a refused server leaves nothing to clean up.
        check_listener(settings.host, settings.auth)
        credentials = server_credentials(settings.auth)
        telemetry = settings.telemetry
        self.metrics_registry = CollectorRegistry() if telemetry.metrics else None
        self.rpc_metrics = RpcMetrics(self.metrics_registry) if self.metrics_registry else None
        self.core = build_core(
            settings, extra_plugins, evaluator, metrics_registry=self.metrics_registry
        )
        self.tracing = RpcTracing(telemetry) if telemetry.otlp_endpoint else None
        message_bytes = settings.limits.max_message_bytes
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_workers, thread_name_prefix="infogap-rpc"
            ),
            # Tracing and metrics outermost, so that refused calls are traced and counted too;
            # then authentication, so a refused call never reaches the servicers (without
            # keys there is nothing to check, and the interceptor stays out of the way).
            interceptors=[
                *(self.tracing.interceptors() if self.tracing else []),
                *([MetricsInterceptor(self.rpc_metrics)] if self.rpc_metrics else []),
                *([AuthInterceptor(settings.auth)] if settings.auth.keys else []),
                DomainErrorInterceptor(),
            ],
            options=[
                ("grpc.max_receive_message_length", message_bytes),
                ("grpc.max_send_message_length", message_bytes),
                # gRPC shares ports by default (SO_REUSEPORT): a second server on a taken port
                # would silently take half the traffic to its own data. Fail instead.
                ("grpc.so_reuseport", 0),
            ],
        )
        pseudonyms = Pseudonyms(settings.pseudonyms, settings.limits)
        servicers: dict[str, Any] = {
            "FeedbackService": FeedbackServicer(self.core, pseudonyms),
            "ProfileService": ProfileServicer(self.core, pseudonyms),
            "RecommendService": RecommendServicer(self.core, pseudonyms),
            "AdminService": AdminServicer(self.core, pseudonyms),
        }
        feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(
            servicers["FeedbackService"], self._server
        )
        profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(
            servicers["ProfileService"], self._server
        )
        recommend_service_pb2_grpc.add_RecommendServiceServicer_to_server(
            servicers["RecommendService"], self._server
        )
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
            servicers["AdminService"], self._server
        )
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            SERVICE_NAMES
            + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self._server,
        )
        self.readiness = Readiness()
        self._settings = settings
        address = f"{settings.host}:{settings.port}"
        self._http: HttpListener | None = None
        try:
            if credentials is None:
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, credentials)
            if self.port == 0:
                raise RuntimeError(f"could not bind {address}")
            if settings.http.port is not None:
                http_app = build_http_app(
                    self.core,
                    settings,
                    servicers=servicers,
                    readiness=self.readiness,
                    gate=HttpGate(settings.auth),
                    observe=self.rpc_metrics.observe_rpc if self.rpc_metrics else None,
                    metrics_registry=self.metrics_registry,
                    tracer=self.tracing.connect_tracer() if self.tracing else None,
                )
                self._http = HttpListener(
                    http_app,
                    settings.host,
                    settings.http.port,
                    settings.http.threads,
                    settings.auth,
                )
        except (RuntimeError, OSError):
            self.core.close()  # the store and its threads are already open
            if self.tracing:
                self.tracing.close()
            raise
        self.address = f"{settings.host}:{self.port}"
        self.http_port: int | None = None if self._http is None else self._http.port
        self.http_url: str | None = (
            None
            if self._http is None
            else f"{self._http.scheme}://{settings.host}:{self._http.port}"
        )
        self._stopped = False
        self._draining = False

    def start(self) -> InfoGapServer:
        self._server.start()
        if self._http is not None:
            self._http.start()
        self._set_serving(True)
        log.info("InfoGap serving on %s", self.address)
        if self.http_url is not None:
            log.info("InfoGap HTTP (Connect, /readyz) on %s", self.http_url)
        return self

    def _set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *SERVICE_NAMES):
            self._health.set(name, status)
        self.readiness.set(serving)

    def wait(self) -> None:
        self._server.wait_for_termination()

    def drain_and_stop(self) -> None:
        """What SIGTERM does: report NOT_SERVING (gRPC health and ``/readyz``) for
        ``server.drain_seconds`` while still serving every call, so load balancers move the
        traffic away first; then stop, with ``server.grace_seconds`` for calls in flight."""
        if self._stopped or self._draining:
            return
        self._draining = True
        self._set_serving(False)
        drain = self._settings.server.drain_seconds
        log.info("draining: NOT_SERVING for %.1f s, still answering calls", drain)
        time.sleep(drain)
        self.stop(grace=self._settings.server.grace_seconds)

    def stop(self, grace: float = 5.0) -> None:
        """Refuses new calls, lets running ones finish for ``grace`` seconds, then closes the
        store. Stopping a stopped server does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self.readiness.set(False)
        self._health.enter_graceful_shutdown()
        stopped = self._server.stop(grace)
        if self._http is not None:
            self._http.stop(grace)
        stopped.wait()
        self.core.close()
        if self.tracing:
            self.tracing.close()  # exports the spans still batched

    def __enter__(self) -> InfoGapServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
