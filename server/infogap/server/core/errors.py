"""Domain errors. Each knows the gRPC status it stands for; one interceptor in the transport maps
them, so no servicer repeats try/except."""

from __future__ import annotations

from dataclasses import dataclass


class InfoGapError(Exception):
    """Base of every error the core raises on purpose. ``status`` names a ``grpc.StatusCode``."""

    status = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: a path like ``events[3].type`` and why it is bad."""

    field: str
    reason: str


class InvalidArgument(InfoGapError):
    """The request is malformed; nothing was changed."""

    status = "INVALID_ARGUMENT"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.violations = (FieldViolation(field, reason),)


class NotFound(InfoGapError):
    """The named user, item, catalog or model does not exist."""

    status = "NOT_FOUND"


class AlreadyExists(InfoGapError):
    """Something of that name exists already, and creating is not replacing."""

    status = "ALREADY_EXISTS"


class FailedPrecondition(InfoGapError):
    """The system is not in a state to do this yet (e.g. no model trained for the catalog)."""

    status = "FAILED_PRECONDITION"


class ResourceExhausted(InfoGapError):
    """A quota or budget is spent."""

    status = "RESOURCE_EXHAUSTED"


class BudgetExhausted(ResourceExhausted):
    """The catalog's privacy budget for the current window cannot pay for a release."""

    def __init__(self, catalog: str, *, spent: float, budget: float, kind: str, epsilon: float):
        super().__init__(
            f"catalog {catalog!r} has spent epsilon {spent:g} of {budget:g} in the "
            f"current window; releasing {kind} would take {epsilon:g} more"
        )


class Cancelled(InfoGapError):
    """The caller went away (cancelled, or its deadline passed) while the work was going on."""

    status = "CANCELLED"


class Unavailable(InfoGapError):
    """The server is shutting down or otherwise cannot serve right now; retrying may succeed."""

    status = "UNAVAILABLE"


class StartupError(RuntimeError):
    """The configuration cannot be served as it stands; the server does not start. Not an
    ``InfoGapError``: no caller ever sees it."""
