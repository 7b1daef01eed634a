"""The Segment HTTP tracking API on the HTTP port: ``POST /v1/track``, ``/v1/identify``,
``/v1/page``, ``/v1/screen``, ``/v1/group``, ``/v1/alias`` and ``/v1/batch`` (``/v1/import``,
its old name), so Segment, RudderStack or any sender of that JSON feeds InfoGap directly.

The key is Segment's write key: HTTP Basic with the key as the user name (what Segment's
libraries send), a Bearer token, or the body's ``writeKey``. It needs the ``ingest`` scope.
Bodies may be gzip-encoded and are bounded by ``limits.max_message_bytes`` (413 beyond it,
before and after decompression). The answer is Segment's ``{"success": true}`` plus what was
stored; a bad message is answered 400 with Connect's error JSON naming its field, and
nothing of the request is stored.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Iterable
from typing import Any

from infogap.server.config import Settings
from infogap.server.core.errors import InfoGapError, InvalidArgument
from infogap.server.core.intake.service import IntakeReport
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.gate import HttpGate, Refused, connect_code
from infogap.server.transport.http.responses import (
    StartResponse,
    error_response,
    json_response,
)
from infogap.server.transport.pseudonyms import Pseudonyms
from infogap.server.transport.status import domain_status

log = logging.getLogger(__name__)

PREFIX = "/v1/"
SINGLE_CALLS = ("track", "identify", "page", "screen", "group", "alias")
BATCH_CALLS = ("batch", "import")
SCOPE = "ingest"


class _TooLarge(Exception):
    """The body is over ``limits.max_message_bytes``."""


def _field_details(error: InvalidArgument) -> list[dict[str, Any]]:
    """Connect's error detail of a field violation: the ``google.rpc.BadRequest`` gRPC sends
    (``transport.status.domain_status``) as unpadded base64, and a readable copy."""
    [detail] = domain_status(error).details
    value = base64.b64encode(detail.value).decode().rstrip("=")
    debug = {
        "fieldViolations": [{"field": v.field, "description": v.reason} for v in error.violations]
    }
    return [{"type": "google.rpc.BadRequest", "value": value, "debug": debug}]


def report_body(report: IntakeReport) -> dict[str, Any]:
    """The 200 answer: Segment's ``success`` and InfoGap's counts."""
    return {
        "success": True,
        "received": report.received,
        "stored": report.stored,
        "duplicates": report.duplicates,
        "users": report.users,
        "unknownEvents": dict(report.unknown_events),
        "ignored": dict(report.ignored),
    }


class SegmentApp:
    """The WSGI application mounted at ``/v1/``."""

    def __init__(self, core: InfoGap, settings: Settings, gate: HttpGate) -> None:
        self._core = core
        self._gate = gate
        self._enabled = settings.segment.enabled
        self._max_bytes = settings.limits.max_message_bytes
        self._pseudonyms = Pseudonyms(settings.pseudonyms, settings.limits)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        call = (environ.get("PATH_INFO") or "/").removeprefix(PREFIX).rstrip("/")
        if not self._enabled or call not in SINGLE_CALLS + BATCH_CALLS:
            path = environ.get("PATH_INFO")
            return error_response(start_response, "not_found", f"no endpoint at {path}")
        if environ.get("REQUEST_METHOD") != "POST":
            return error_response(
                start_response,
                "unimplemented",
                f"{PREFIX}{call} takes POST",
                headers=[("Allow", "POST")],
            )
        try:
            return json_response(start_response, 200, report_body(self._answer(environ, call)))
        except Refused as refused:
            return error_response(start_response, refused.connect_code, refused.message)
        except _TooLarge:
            return json_response(
                start_response,
                413,
                {
                    "code": "resource_exhausted",
                    "message": f"the body is over limits.max_message_bytes ({self._max_bytes})",
                },
            )
        except InvalidArgument as error:
            return error_response(
                start_response, "invalid_argument", error.message, details=_field_details(error)
            )
        except InfoGapError as error:
            return error_response(start_response, connect_code(error.status), error.message)
        except Exception:
            log.exception("unexpected error in %s%s", PREFIX, call)
            return error_response(start_response, "internal", "internal error; see the server log")

    def _answer(self, environ: dict[str, Any], call: str) -> IntakeReport:
        header_given = environ.get("HTTP_AUTHORIZATION") is not None
        if header_given:  # refused before the body is read
            self._gate.admit(environ, SCOPE)
        body = self._json_body(environ)
        if not header_given:
            self._gate.admit(_with_write_key(environ, body), SCOPE)
        if call in BATCH_CALLS:
            messages = body.get("batch") if isinstance(body, dict) else None
            if not isinstance(messages, list):
                raise InvalidArgument("batch", "must be a list of messages")
            return self._core.intake.segment(
                messages, batch_field="batch", user_id_of=self._pseudonyms.of
            )
        return self._core.intake.segment([body], call_type=call, user_id_of=self._pseudonyms.of)

    def _json_body(self, environ: dict[str, Any]) -> object:
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise InvalidArgument("Content-Length", "must be a number of bytes") from None
        if length > self._max_bytes:
            raise _TooLarge
        stream = environ["wsgi.input"]
        data = stream.read(length) if length >= 0 else stream.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise _TooLarge
        encoding = (environ.get("HTTP_CONTENT_ENCODING") or "identity").lower()
        if encoding == "gzip":
            data = self._gunzipped(data)
        elif encoding != "identity":
            raise InvalidArgument("Content-Encoding", "must be gzip or identity")
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidArgument("body", f"is not valid JSON: {error}") from None

    def _gunzipped(self, data: bytes) -> bytes:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            plain = inflater.decompress(data, self._max_bytes + 1)
        except zlib.error as error:
            raise InvalidArgument("body", f"is not valid gzip: {error}") from None
        if len(plain) > self._max_bytes or inflater.unconsumed_tail:
            raise _TooLarge
        return plain


def _with_write_key(environ: dict[str, Any], body: object) -> dict[str, Any]:
    """``environ`` with the body's ``writeKey`` as Basic credentials, when it has one."""
    write_key = body.get("writeKey") if isinstance(body, dict) else None
    if not isinstance(write_key, str) or not write_key:
        return environ
    credentials = base64.b64encode(f"{write_key}:".encode()).decode()
    return {**environ, "HTTP_AUTHORIZATION": f"Basic {credentials}"}
