"""The HTTP port's parts alone: the router's prefixes, the keys read from an Authorization
header, Connect's codes for gRPC's."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from infogap.server.config import AuthSettings
from infogap.server.transport.auth import Admission, Refusal, hash_api_key
from infogap.server.transport.http.gate import HttpGate, Refused, connect_code
from infogap.server.transport.http.router import Router

KEY = "a-key-long-enough-0123456789"


def _app(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [name.encode()]

    return app


def _get(router: Router, path: str) -> tuple[str, bytes]:
    seen: list[str] = []
    body = b"".join(router({"PATH_INFO": path}, lambda status, headers: seen.append(status)))
    return seen[0], body


def test_the_longest_prefix_wins_and_exact_paths_match_only_themselves():
    router = Router()
    router.mount("/v1/", _app("v1"))
    router.mount("/v1/batch/", _app("batch"))
    router.mount("/metrics", _app("metrics"))
    assert _get(router, "/v1/track") == ("200 OK", b"v1")
    assert _get(router, "/v1/batch/x") == ("200 OK", b"batch")
    assert _get(router, "/metrics") == ("200 OK", b"metrics")
    status, body = _get(router, "/metrics/more")
    assert status.startswith("404") and b'"not_found"' in body


def _gate() -> HttpGate:
    return HttpGate(
        AuthSettings(keys=[{"name": "crm", "sha256": hash_api_key(KEY), "scopes": ["ingest"]}])
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [f"Bearer {KEY}", f"bearer  {KEY} ", _basic("anyone", KEY), _basic(KEY, "")],
)
def test_a_key_is_read_from_bearer_or_basic_credentials(header):
    assert _gate().admit({"HTTP_AUTHORIZATION": header, "PATH_INFO": "/v1/track"}, "ingest") == (
        "crm"
    )


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "unauthenticated"),
        ("Bearer", "unauthenticated"),
        ("Basic !!!", "unauthenticated"),
        (_basic("", ""), "unauthenticated"),
        ("Token " + KEY, "unauthenticated"),
        ("Bearer wrong-key", "unauthenticated"),
    ],
)
def test_missing_or_malformed_credentials_are_unauthenticated(header, code):
    environ = {"PATH_INFO": "/v1/track"}
    if header is not None:
        environ["HTTP_AUTHORIZATION"] = header
    with pytest.raises(Refused) as refused:
        _gate().admit(environ, "ingest")
    assert (refused.value.connect_code, refused.value.http_status) == (code, 401)


def test_a_key_without_the_scope_is_permission_denied_naming_the_path():
    with pytest.raises(Refused) as refused:
        _gate().admit({"HTTP_AUTHORIZATION": f"Bearer {KEY}", "PATH_INFO": "/console/"}, "admin")
    assert refused.value.http_status == 403
    assert "'admin' scope" in refused.value.message and "/console/" in refused.value.message


def test_without_keys_everything_is_admitted():
    assert HttpGate(AuthSettings()).admit({"PATH_INFO": "/"}, "admin") is None


def test_a_method_without_a_scope_is_refused_to_every_key():
    admission = Admission(
        AuthSettings(keys=[{"name": "all", "sha256": hash_api_key(KEY), "scopes": ["admin"]}])
    )
    with pytest.raises(Refusal, match="has no scope"):
        admission.admit_method("/infogap.v1.AdminService/Unlisted", [f"Bearer {KEY}"])


@pytest.mark.parametrize(
    "grpc_name, connect",
    [("INVALID_ARGUMENT", "invalid_argument"), ("CANCELLED", "canceled"), ("OK", "ok")],
)
def test_connect_codes(grpc_name, connect):
    assert connect_code(grpc_name) == connect
