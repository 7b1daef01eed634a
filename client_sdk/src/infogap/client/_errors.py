"""The SDK's exceptions, and their conversion from grpc errors.

Client methods never let a ``grpc.RpcError`` escape: they raise an :class:`InfoGapError`
subclass chosen by the status code, so callers can catch ``NotFoundError`` rather than compare
status codes themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf.message import DecodeError

# Trailing-metadata key under which gRPC servers send a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class InfoGapError(Exception):
    """A call to the InfoGap server failed.

    Attributes:
        code: The gRPC status code.
        message: The server's explanation, e.g. ``"events[3].type: unknown event type"``.
        field_violations: ``(field, description)`` pairs of an INVALID_ARGUMENT error. Filled
            only when ``googleapis-common-protos`` is installed; without it the same
            information is in ``message``.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        field_violations: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.code = code
        self.message = message
        self.field_violations: list[tuple[str, str]] = list(field_violations)
        # All constructor arguments go to args, so that the exception pickles and copies.
        super().__init__(code, message, self.field_violations)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class InvalidArgumentError(InfoGapError):
    """The request is malformed; ``field_violations`` or the message names the bad field."""


class NotFoundError(InfoGapError):
    """The user, item or model asked for does not exist."""


class AlreadyExistsError(InfoGapError):
    """Something of that name exists already, e.g. an experiment."""


class FailedPreconditionError(InfoGapError):
    """The server is not in a state to do this yet, e.g. training a catalog without events."""


class ResourceExhaustedError(InfoGapError):
    """A quota or size limit was hit."""


class UnauthenticatedError(InfoGapError):
    """The API key is missing or wrong."""


class PermissionDeniedError(InfoGapError):
    """The API key is valid but not allowed to make this call."""


class UnavailableError(InfoGapError):
    """The server could not be reached, even after the client's automatic retries."""


class DeadlineExceededError(InfoGapError):
    """The call did not finish within its timeout."""


_ERROR_CLASSES: dict[grpc.StatusCode, type[InfoGapError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def from_rpc_error(error: grpc.RpcError) -> InfoGapError:
    """Converts an error of a sync or grpc.aio call into the matching InfoGapError subclass."""
    # A bare grpc.RpcError carries no status; the errors raised by calls are also grpc.Call
    # (sync) or grpc.aio.AioRpcError, which both provide code(), details(), trailing_metadata().
    code = getattr(error, "code", lambda: None)() or grpc.StatusCode.UNKNOWN
    message = getattr(error, "details", lambda: None)() or ""
    metadata = getattr(error, "trailing_metadata", lambda: None)() or ()
    return error_for_status(code, message, _field_violations(metadata))


def error_for_status(
    code: grpc.StatusCode, message: str, field_violations: Iterable[tuple[str, str]] = ()
) -> InfoGapError:
    """Builds the InfoGapError subclass that matches a status code."""
    return _ERROR_CLASSES.get(code, InfoGapError)(code, message, field_violations)


def _field_violations(metadata: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, str]]:
    """Reads the google.rpc.BadRequest details a server attached to its error, if any."""
    try:
        # No type stubs are published for googleapis-common-protos.
        from google.rpc import (  # type: ignore[import-untyped, unused-ignore]
            error_details_pb2,
            status_pb2,
        )
    except ImportError:  # googleapis-common-protos is optional: the message names the field too
        return []

    violations: list[tuple[str, str]] = []
    for key, value in metadata:
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad_request = error_details_pb2.BadRequest()
                    detail.Unpack(bad_request)
                    violations.extend(
                        (violation.field, violation.description)
                        for violation in bad_request.field_violations
                    )
        except DecodeError:  # malformed details must not hide the error they came with
            continue
    return violations
