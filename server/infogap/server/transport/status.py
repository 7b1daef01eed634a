"""Maps domain errors to gRPC statuses in one interceptor, so servicers hold no try/except.

An ``InfoGapError`` becomes its own status code, with ``google.rpc.BadRequest`` field violations
for invalid arguments (readable by any gRPC client). Anything else is a bug: it is logged with
its traceback and the caller gets INTERNAL without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from infogap.server.core.errors import InfoGapError, InvalidArgument
from infogap.server.transport.interceptors import Behavior, WrappingInterceptor

log = logging.getLogger(__name__)


def domain_status(error: InfoGapError) -> status_pb2.Status:
    """The ``google.rpc.Status`` a domain error is answered with, on gRPC and Connect alike."""
    status = status_pb2.Status(code=getattr(code_pb2, error.status), message=error.message)
    if isinstance(error, InvalidArgument):
        details = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.reason)
                for v in error.violations
            ]
        )
        status.details.add().Pack(details)
    return status


def _guarded(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        # gRPC reports 0 for a passed deadline (and a huge value for none): the caller has
        # stopped waiting, so any work done now would be thrown away.
        if context.time_remaining() <= 0:
            context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the call started"
            )
        try:
            return behavior(request, context)
        except InfoGapError as error:
            context.abort_with_status(rpc_status.to_status(domain_status(error)))
        except Exception:
            # abort_with_status raises an Exception subclass too; let gRPC's own pass through.
            if context.code() is not None:  # type: ignore[attr-defined]  # grpc >= 1.38
                raise
            log.exception("unexpected error in %s", method)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    return guarded


class DomainErrorInterceptor(WrappingInterceptor):
    """Maps domain errors, and refuses calls whose deadline already passed, for every method."""

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        return _guarded(behavior, method)
