"""JSON answers of the HTTP-only endpoints; errors in the Connect protocol's shape, so one
client-side error reader serves every endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

# start_response(status line, headers) as WSGI defines it.
StartResponse = Callable[..., Any]
# A WSGI application: (environ, start_response) -> the body's byte strings.
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Connect's HTTP status for each of its codes (connectrpc.com/docs/protocol, "Error codes").
CONNECT_HTTP_STATUS: dict[str, int] = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}


def status_line(http_status: int) -> str:
    """``"404 Not Found"``; Connect's 499 has no phrase in the standard library."""
    try:
        return f"{http_status} {HTTPStatus(http_status).phrase}"
    except ValueError:
        return f"{http_status} Client Closed Request"


def json_response(
    start_response: StartResponse,
    http_status: int,
    body: object,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Answers ``body`` as JSON with ``http_status``."""
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(
        status_line(http_status),
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *headers,
        ],
    )
    return [data]


def error_response(
    start_response: StartResponse,
    connect_code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Answers Connect's error JSON, ``{"code": ..., "message": ...}``, with the code's HTTP
    status."""
    body: dict[str, Any] = {"code": connect_code, "message": message}
    if details:
        body["details"] = details
    return json_response(start_response, CONNECT_HTTP_STATUS[connect_code], body, headers)
