"""The console's WSGI application: admits the caller (the admin scope when keys are on), routes
the path to its page, and turns what a page cannot answer into a readable HTML error page with
its status (400 for a bad parameter, 404 for an unknown user or segment, 401/403 refused).

Pages call the core directly, never through gRPC or Connect.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from infogap.server.core.errors import InfoGapError
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.console.customers import customer
from infogap.server.transport.http.console.evaluations import evaluation_report, evaluations
from infogap.server.transport.http.console.experiments import experiment, experiments
from infogap.server.transport.http.console.overview import overview
from infogap.server.transport.http.console.page import (
    PREFIX,
    Page,
    PageError,
    Query,
    esc,
    link,
    shell,
)
from infogap.server.transport.http.console.segments import segment, segments
from infogap.server.transport.http.gate import HttpGate, Refused, connect_code
from infogap.server.transport.http.responses import CONNECT_HTTP_STATUS, StartResponse, status_line

log = logging.getLogger(__name__)

SCOPE = "admin"
REALM = 'Basic realm="InfoGap console", charset="UTF-8"'
# Pages allow their own inline CSS and SVG, nothing else: no script runs on them.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
PageHandler = Callable[[InfoGap, Query], Page]
NamedPageHandler = Callable[[InfoGap, Query, str], Page]

PAGES: dict[str, PageHandler] = {
    "/": overview,
    "/customers": customer,
    "/segments": segments,
    "/experiments": experiments,
    "/evaluations": evaluations,
}
NAMED_PAGES: dict[str, NamedPageHandler] = {"segments": segment, "experiments": experiment}
_NAMED = re.compile(r"/(segments|experiments|evaluations)/([^/]+)")


class Console:
    """The console, mounted at ``/console/`` on the HTTP port."""

    def __init__(self, core: InfoGap, gate: HttpGate) -> None:
        self._core = core
        self._gate = gate

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        try:
            self._gate.admit(environ, SCOPE)
        except Refused as refused:
            challenge = [("WWW-Authenticate", REALM)] if refused.http_status == 401 else []
            return _html(start_response, refused.http_status, _error(refused.message), challenge)
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _html(start_response, 405, _error("the console only reads: use GET"))
        try:
            return self._answer(path.removeprefix(PREFIX) or "/", environ, start_response)
        except PageError as error:
            return _html(start_response, error.status, _error(error.message))
        except InfoGapError as error:
            # The status Connect gives the same error, so both HTTP surfaces agree.
            status = CONNECT_HTTP_STATUS.get(connect_code(error.status), 500)
            if status >= 500:
                log.exception("console page %s failed", path)
            return _html(start_response, status, _error(error.message))

    def _answer(
        self, path: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        query = Query.parse(environ.get("QUERY_STRING", ""))
        handler = PAGES.get(path.rstrip("/") or "/")
        if handler is not None:
            return _html(start_response, 200, handler(self._core, query))
        named = _NAMED.fullmatch(path)
        if named is None:
            raise PageError(404, f"the console has no page at {PREFIX}{path}")
        group, name = named.group(1), named.group(2)
        if group == "evaluations":  # the report's own document, as the evaluation wrote it
            document = evaluation_report(self._core, query, name)
            return _document(start_response, 200, document)
        return _html(start_response, 200, NAMED_PAGES[group](self._core, query, name))


def redirect_to_console(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """``/console`` -> ``/console/``."""
    start_response(status_line(308), [("Location", PREFIX + "/"), ("Content-Length", "0")])
    return []


def _error(message: str) -> Page:
    return Page(
        "Error",
        f'<h1>Not shown</h1><p class="error-message">{esc(message)}</p>'
        f"<p>{link('/', 'Back to the overview')}</p>",
    )


def _html(
    start_response: StartResponse,
    http_status: int,
    page: Page,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    return _document(start_response, http_status, shell(page), headers)


def _document(
    start_response: StartResponse,
    http_status: int,
    document: str,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    data = document.encode()
    start_response(
        status_line(http_status),
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Content-Security-Policy", PAGE_POLICY),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
            *headers,
        ],
    )
    return [data]
