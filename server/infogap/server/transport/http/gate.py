"""API keys, scopes and rate limits for the HTTP-only endpoints: the same ``Admission`` as
gRPC, read from the ``Authorization`` header."""

from __future__ import annotations

from typing import Any

from infogap.server.config import AuthSettings
from infogap.server.transport.auth import Admission, Refusal
from infogap.server.transport.http.responses import CONNECT_HTTP_STATUS

# Connect's code for each gRPC status name (Connect spells CANCELLED with one L).
_CONNECT_CODES = {"CANCELLED": "canceled"}


def connect_code(grpc_status_name: str) -> str:
    """Connect's code for a gRPC status name, e.g. ``"INVALID_ARGUMENT"`` -> ``"invalid_argument"``."""
    return _CONNECT_CODES.get(grpc_status_name, grpc_status_name.lower())


class Refused(Exception):
    """An HTTP call refused before any work: its HTTP status, Connect code and message."""

    def __init__(self, connect_code: str, message: str) -> None:
        super().__init__(message)
        self.connect_code = connect_code
        self.http_status = CONNECT_HTTP_STATUS[connect_code]
        self.message = message


class HttpGate:
    """Admits HTTP calls with an API key presented as ``Authorization: Bearer <key>`` or as
    HTTP Basic credentials (the key as the password, or as the user name with no password)."""

    def __init__(self, auth: AuthSettings) -> None:
        self.admission = Admission(auth)

    def admit(self, environ: dict[str, Any], scope: str) -> str | None:
        """The name of the key admitted for ``scope``; None when no keys are configured.

        :raises Refused: when the key is missing, unknown, over its rate or lacks the scope.
        """
        header = environ.get("HTTP_AUTHORIZATION")
        target = environ.get("PATH_INFO") or "/"
        try:
            key = self.admission.admit(scope, target, [] if header is None else [header])
        except Refusal as refusal:
            raise Refused(connect_code(refusal.code.name), refusal.message) from None
        return None if key is None else key.name
