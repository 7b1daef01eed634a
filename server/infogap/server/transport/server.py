"""Builds and runs the gRPC server: the InfoGap services, health, reflection, error mapping."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from infogap.server.config import Settings
from infogap.server.core.evaluation import HistoryEvaluator
from infogap.server.core.factory import build_core
from infogap.server.transport.auth import AuthInterceptor, check_listener, server_credentials
from infogap.server.transport.pseudonyms import Pseudonyms
from infogap.server.transport.servicers import (
    AdminServicer,
    FeedbackServicer,
    ProfileServicer,
    RecommendServicer,
)
from infogap.server.transport.status import DomainErrorInterceptor
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
        self.core = build_core(settings, extra_plugins, evaluator)
        message_bytes = settings.limits.max_message_bytes
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_workers, thread_name_prefix="infogap-rpc"
            ),
            # Authentication first, so a refused call never reaches the servicers; without
            # keys there is nothing to check, and the interceptor stays out of the way.
            interceptors=[
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
        feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(
            FeedbackServicer(self.core, pseudonyms), self._server
        )
        profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(
            ProfileServicer(self.core, pseudonyms), self._server
        )
        recommend_service_pb2_grpc.add_RecommendServiceServicer_to_server(
            RecommendServicer(self.core, pseudonyms), self._server
        )
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(self.core, pseudonyms), self._server
        )
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            SERVICE_NAMES
            + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self._server,
        )
        address = f"{settings.host}:{settings.port}"
        try:
            if credentials is None:
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, credentials)
            if self.port == 0:
                raise RuntimeError(f"could not bind {address}")
        except RuntimeError:
            self.core.close()  # the store and its threads are already open
            raise
        self.address = f"{settings.host}:{self.port}"
        self._stopped = False

    def start(self) -> InfoGapServer:
        self._server.start()
        for name in ("", *SERVICE_NAMES):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("InfoGap serving on %s", self.address)
        return self

    def wait(self) -> None:
        self._server.wait_for_termination()

    def stop(self, grace: float = 5.0) -> None:
        """Refuses new calls, lets running ones finish for ``grace`` seconds, then closes the
        store. Stopping a stopped server does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self.core.close()

    def __enter__(self) -> InfoGapServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
