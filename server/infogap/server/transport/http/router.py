"""One WSGI application for the HTTP port: each path prefix goes to the application mounted
there, the longest prefix first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infogap.server.transport.http.responses import StartResponse, WSGIApp, error_response


class Router:
    """Dispatches by path prefix. A prefix ending in ``/`` matches everything below it; one
    without matches that exact path only. Unknown paths get Connect's ``not_found`` JSON."""

    def __init__(self) -> None:
        self._exact: dict[str, WSGIApp] = {}
        self._prefixes: list[tuple[str, WSGIApp]] = []

    def mount(self, prefix: str, app: WSGIApp) -> None:
        """Sends requests for ``prefix`` (and below it, when it ends in ``/``) to ``app``."""
        if prefix.endswith("/"):
            self._prefixes.append((prefix, app))
            self._prefixes.sort(key=lambda entry: len(entry[0]), reverse=True)
        else:
            self._exact[prefix] = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        app = self._exact.get(path)
        if app is None:
            app = next((a for prefix, a in self._prefixes if path.startswith(prefix)), None)
        if app is None:
            return error_response(start_response, "not_found", f"no endpoint at {path}")
        return app(environ, start_response)
