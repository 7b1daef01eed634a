"""The blocking client."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import grpc

from infogap.v1.admin_service_pb2_grpc import AdminServiceStub
from infogap.v1.feedback_service_pb2_grpc import FeedbackServiceStub
from infogap.v1.profile_service_pb2_grpc import ProfileServiceStub
from infogap.v1.recommend_service_pb2_grpc import RecommendServiceStub

from ._channel import ClientSettings, PemSource
from ._client_admin import AdminMethods
from ._client_feedback import FeedbackMethods
from ._client_profiles import ProfileMethods
from ._client_recommend import RecommendMethods
from ._defaults import DEFAULT_TARGET
from ._health import HEALTH_CHECK_METHOD, HEALTH_CHECK_REQUEST, decode_health_status


class Client(FeedbackMethods, ProfileMethods, RecommendMethods, AdminMethods):
    """A blocking client of an InfoGap server.

    A client owns one gRPC channel, which is thread-safe: create one client and share it. Close
    it when done, or use it as a context manager. Every method raises an
    :class:`~infogap.client.InfoGapError` subclass when the call fails; idempotent calls are
    first retried automatically while the server is UNAVAILABLE.

    Args:
        target: The server's address, ``host:port``.
        timeout: The default deadline of each call, in seconds. Every method also takes a
            ``timeout=`` of its own.
        api_key: Sent with every call as ``authorization: Bearer <api_key>``.
        metadata: Further ``(key, value)`` pairs sent with every call (keys in lowercase).
        credentials: TLS credentials, e.g. ``grpc.ssl_channel_credentials()``; without them (and
            without the certificates below) the channel is plaintext.
        options: gRPC channel options; they take precedence over the client's own (retry
            policy included).
        root_certificates: A CA to verify the server's TLS certificate with, as PEM bytes or a
            file path. Giving this or the client certificate turns TLS on (a shorthand for
            ``credentials``; the system's CAs are used when only the client certificate is given).
        client_certificate: A client certificate (PEM bytes or path), for mutual TLS.
        client_key: The private key of ``client_certificate`` (PEM bytes or path).
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 10.0,
        api_key: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        root_certificates: PemSource | None = None,
        client_certificate: PemSource | None = None,
        client_key: PemSource | None = None,
    ) -> None:
        self._settings = ClientSettings.create(
            target,
            timeout=timeout,
            api_key=api_key,
            metadata=metadata,
            credentials=credentials,
            options=options,
            root_certificates=root_certificates,
            client_certificate=client_certificate,
            client_key=client_key,
        )
        if self._settings.credentials is None:
            self._channel = grpc.insecure_channel(target, options=self._settings.options)
        else:
            self._channel = grpc.secure_channel(
                target, self._settings.credentials, options=self._settings.options
            )
        self._feedback = FeedbackServiceStub(self._channel)
        self._profiles = ProfileServiceStub(self._channel)
        self._recommend = RecommendServiceStub(self._channel)
        self._admin = AdminServiceStub(self._channel)
        # No serializers: the health messages are encoded by hand (see _health).
        self._health_check: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            HEALTH_CHECK_METHOD
        )

    def close(self) -> None:
        """Closes the channel; calls still running are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings.target!r})"

    def health(self, *, timeout: float | None = None) -> str:
        """The server's status from the standard gRPC health check.

        Returns:
            ``"SERVING"``, ``"NOT_SERVING"``, ``"UNKNOWN"`` or ``"SERVICE_UNKNOWN"``.

        Raises:
            UnavailableError: The server cannot be reached.
        """
        response = self._call(self._health_check, HEALTH_CHECK_REQUEST, timeout)
        return decode_health_status(response)
