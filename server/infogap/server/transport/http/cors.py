"""CORS for browsers calling the HTTP port from web pages of other origins (a CRM's front
end, say): preflights answered, and the allowed origins told on every answer. Off unless
``http.cors_origins`` names origins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from infogap.server.transport.http.responses import StartResponse, WSGIApp

# What Connect clients send and read (connectrpc.com/docs/cors), plus the API key.
ALLOWED_HEADERS = (
    "Authorization, Content-Type, Content-Encoding, Accept-Encoding, Connect-Protocol-Version, "
    "Connect-Timeout-Ms, Connect-Content-Encoding, Connect-Accept-Encoding, X-User-Agent, "
    "X-Grpc-Web, Grpc-Timeout"
)
EXPOSED_HEADERS = "Content-Encoding, Connect-Content-Encoding, Grpc-Status, Grpc-Message"
MAX_AGE_SECONDS = "7200"


class Cors:
    """Wraps the HTTP port's application; ``origins`` are exact (``https://crm.example``) or
    ``*`` for any."""

    def __init__(self, app: WSGIApp, origins: Sequence[str]) -> None:
        self._app = app
        self._any = "*" in origins
        self._origins = frozenset(origins)

    def _allowed(self, origin: str | None) -> bool:
        return origin is not None and (self._any or origin in self._origins)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if not self._allowed(origin):
            return self._app(environ, start_response)
        assert origin is not None
        allow = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get(
            "HTTP_ACCESS_CONTROL_REQUEST_METHOD"
        ):
            start_response(
                "204 No Content",
                [
                    *allow,
                    ("Access-Control-Allow-Methods", "GET, POST"),
                    ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
                    ("Access-Control-Max-Age", MAX_AGE_SECONDS),
                ],
            )
            return []

        def start_with_cors(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            return start_response(
                status,
                [*headers, *allow, ("Access-Control-Expose-Headers", EXPOSED_HEADERS)],
                *exc_info,
            )

        return self._app(environ, start_with_cors)
