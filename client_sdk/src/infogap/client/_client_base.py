"""What the blocking client's per-service methods share: the channel's stubs, the settings and
the one way to make a unary call."""

from __future__ import annotations

from typing import TypeVar

import grpc

from infogap.v1.admin_service_pb2_grpc import AdminServiceStub
from infogap.v1.feedback_service_pb2_grpc import FeedbackServiceStub
from infogap.v1.profile_service_pb2_grpc import ProfileServiceStub
from infogap.v1.recommend_service_pb2_grpc import RecommendServiceStub

from ._channel import ClientSettings
from ._errors import from_rpc_error

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class ClientBase:
    """The state :class:`~infogap.client.Client` sets up, and its plumbing."""

    _settings: ClientSettings
    _feedback: FeedbackServiceStub
    _profiles: ProfileServiceStub
    _recommend: RecommendServiceStub
    _admin: AdminServiceStub

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        """One unary call with the client's deadline and metadata, and SDK errors."""
        try:
            return method(
                request,
                timeout=self._settings.deadline(timeout),
                metadata=self._settings.metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
