"""The base of InfoGap's server interceptors: each method's handler is wrapped once and cached,
since gRPC asks the interceptors for every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

# A handler's behaviour: (request or request iterator, context) -> response.
Behavior = Callable[[Any, grpc.ServicerContext], Any]
_CALL_SHAPES = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def wrap_handler(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Behavior], Behavior]
) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour (whichever of the four call shapes it has) wrapped."""
    for shape in _CALL_SHAPES:
        behavior = getattr(handler, shape)
        if behavior is not None:
            # grpc's handlers are namedtuples; its type stubs do not say so.
            return handler._replace(**{shape: wrap(behavior)})  # type: ignore[attr-defined]
    return handler


class WrappingInterceptor(grpc.ServerInterceptor):
    """Wraps the behaviour of every method it ``applies`` to with ``wrap``, once per method."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def applies(self, method: str) -> bool:
        """Whether calls to ``method`` (``/package.Service/Method``) are wrapped."""
        return True

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        try:
            return self._handlers[method]
        except KeyError:
            pass
        handler = continuation(handler_call_details)
        if handler is None:  # unknown methods stay uncached: callers choose their names
            return None
        if self.applies(method):
            handler = wrap_handler(handler, lambda behavior: self.wrap(behavior, method))
        self._handlers[method] = handler
        return handler
