"""Authentication and transport security against a real server, through the real SDK: API key
scopes, rate limits, deadlines, the fail-closed listener check, TLS and mutual TLS, and the
`infogap keys generate` command."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from typer.testing import CliRunner

from infogap.client import (
    Client,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from infogap.server.cli import app
from infogap.server.config import AuthSettings
from infogap.server.transport.auth import (
    METHOD_SCOPES,
    SCOPES,
    InsecureListenerError,
    hash_api_key,
    is_loopback,
)
from infogap.server.transport.server import InfoGapServer
from infogap.server.transport.status import DomainErrorInterceptor
from infogap.v1 import (
    admin_service_pb2,
    feedback_service_pb2,
    profile_service_pb2,
    recommend_service_pb2,
)

from ..conftest import make_settings

KEYS = {scope: f"secret-{scope}-key-0123456789" for scope in SCOPES}


def auth_settings(**overrides: Any) -> dict[str, Any]:
    """An [auth] section with one key per scope, named after it."""
    keys = [
        {"name": scope, "sha256": hash_api_key(key), "scopes": [scope]}
        for scope, key in KEYS.items()
    ]
    return {"keys": keys, **overrides}


# One cheap call per scope; each needs only the scope it is listed under.
CALLS: dict[str, Callable[[Client], Any]] = {
    "ingest": lambda client: client.upsert_users([{"user_id": "u1"}]),
    "read": lambda client: client.list_segments(),
    "admin": lambda client: client.list_plugins(),
}


# --- the method -> scope table ----------------------------------------------------------------


def test_every_rpc_of_every_service_has_a_scope():
    services = [
        module.DESCRIPTOR.services_by_name[name]
        for module, name in (
            (feedback_service_pb2, "FeedbackService"),
            (profile_service_pb2, "ProfileService"),
            (recommend_service_pb2, "RecommendService"),
            (admin_service_pb2, "AdminService"),
        )
    ]
    rpcs = {
        f"/{service.full_name}/{method.name}" for service in services for method in service.methods
    }
    assert set(METHOD_SCOPES) == rpcs  # nothing unprotected, nothing stale
    assert set(METHOD_SCOPES.values()) <= set(SCOPES)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


class Aborted(Exception):
    pass


class ExpiredContext:
    """The part of grpc.ServicerContext the interceptors read, for a call whose deadline passed."""

    def time_remaining(self) -> float:
        return 0.0

    def invocation_metadata(self):
        return ()

    def abort(self, code: grpc.StatusCode, details: str):
        raise Aborted(code, details)


def test_a_call_past_its_deadline_does_no_work():
    ran = []
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: ran.append(request))
    interceptor = DomainErrorInterceptor()
    method = "/infogap.v1.AdminService/ListPlugins"
    details = type("Details", (), {"method": method, "invocation_metadata": ()})()
    wrapped = interceptor.intercept_service(lambda _: handler, details)
    with pytest.raises(Aborted) as aborted:
        wrapped.unary_unary("request", ExpiredContext())
    assert aborted.value.args[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert ran == []


# --- API keys and scopes ------------------------------------------------------------------------


def test_without_a_known_key_calls_are_unauthenticated(start_server):
    server = start_server(auth=auth_settings())
    attempts = {
        "no key": {},
        "unknown key": {"api_key": "not-a-configured-key"},
        "not a bearer token": {"metadata": [("authorization", f"Basic {KEYS['admin']}")]},
    }
    for what, arguments in attempts.items():
        with (
            Client(server.address, **arguments) as client,
            pytest.raises(UnauthenticatedError) as error,
        ):
            client.list_plugins()
        assert "not-a-configured-key" not in error.value.message, what
        assert KEYS["admin"] not in error.value.message, what


def test_each_scope_allows_its_calls_and_only_those(start_server):
    server = start_server(auth=auth_settings())
    for scope, key in KEYS.items():
        with Client(server.address, api_key=key) as client:
            CALLS[scope](client)
            for other_scope, call in CALLS.items():
                if other_scope == scope:
                    continue
                with pytest.raises(PermissionDeniedError) as error:
                    call(client)
                assert f"{other_scope!r} scope" in error.value.message
                assert key not in error.value.message


def test_a_key_with_several_scopes(start_server):
    key = "all-scopes-key-0123456789"
    server = start_server(
        auth={"keys": [{"name": "all", "sha256": hash_api_key(key), "scopes": list(SCOPES)}]}
    )
    with Client(server.address, api_key=key) as client:
        for call in CALLS.values():
            call(client)


def test_health_needs_no_key(start_server):
    server = start_server(auth=auth_settings())
    with Client(server.address) as client:
        assert client.health() == "SERVING"


def test_without_keys_auth_is_off(server):
    with Client(server.address) as client:
        for call in CALLS.values():
            call(client)


def test_a_key_past_its_rate_gets_resource_exhausted(start_server):
    server = start_server(auth=auth_settings(requests_per_second_per_key=0.5, burst=3))
    with Client(server.address, api_key=KEYS["admin"]) as admin:
        for _ in range(3):
            admin.list_plugins()
        with pytest.raises(ResourceExhaustedError) as error:
            admin.list_plugins()
        assert "0.5 requests per second" in error.value.message
    with Client(server.address, api_key=KEYS["read"]) as reader:  # every key has its own bucket
        reader.list_segments()


# --- fail closed --------------------------------------------------------------------------------


@pytest.fixture
def start_public_server(tmp_path: Path) -> Iterator[Callable[..., InfoGapServer]]:
    """Like start_server, but listening on every interface (0.0.0.0) rather than loopback."""
    started: list[InfoGapServer] = []

    def start(**overrides: Any) -> InfoGapServer:
        settings = make_settings(tmp_path / "data", **overrides).model_copy(
            update={"host": "0.0.0.0"}
        )
        server = InfoGapServer(settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(grace=0)


def test_refuses_to_listen_beyond_loopback_without_keys(start_public_server):
    with pytest.raises(InsecureListenerError, match="without API keys"):
        start_public_server()
    with pytest.raises(InsecureListenerError, match="without TLS"):
        start_public_server(auth=auth_settings())
    server = start_public_server(auth={"insecure": True})
    with Client(f"127.0.0.1:{server.port}") as client:
        assert client.health() == "SERVING"


def test_serve_exits_non_zero_when_refusing(tmp_path):
    result = CliRunner().invoke(
        app, ["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)]
    )
    output = " ".join(result.output.split())  # as wrapped to the terminal's width
    assert result.exit_code == 1
    assert "without API keys" in output and "[[auth.keys]]" in output and "--insecure" in output


# --- TLS and mutual TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pem(pem: trustme.Blob | bytes, path: Path) -> Path:
    path.write_bytes(pem if isinstance(pem, bytes) else pem.bytes())
    return path


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    """The server's certificate and key, and the CA that signed them (also for clients)."""
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    return {
        "tls_cert_file": write_pem(
            b"".join(blob.bytes() for blob in server_cert.cert_chain_pems), tmp_path / "server.pem"
        ),
        "tls_key_file": write_pem(server_cert.private_key_pem, tmp_path / "server.key"),
        "ca": write_pem(ca.cert_pem, tmp_path / "ca.pem"),
    }


def test_tls(start_server, tls_files):
    server = start_server(
        auth={
            "tls_cert_file": tls_files["tls_cert_file"],
            "tls_key_file": tls_files["tls_key_file"],
        }
    )
    with Client(server.address, root_certificates=tls_files["ca"]) as client:
        assert client.health() == "SERVING"
        client.list_plugins()
    with Client(server.address, timeout=2) as plaintext, pytest.raises(UnavailableError):
        plaintext.list_plugins()


def test_keys_over_tls_beyond_loopback(start_public_server, tls_files):
    server = start_public_server(
        auth=auth_settings(
            tls_cert_file=tls_files["tls_cert_file"], tls_key_file=tls_files["tls_key_file"]
        ),
    )
    target = f"localhost:{server.port}"
    with Client(target, api_key=KEYS["admin"], root_certificates=tls_files["ca"]) as client:
        client.list_plugins()


def test_mutual_tls_requires_a_client_certificate(start_server, tls_files, ca, tmp_path):
    server = start_server(
        auth={
            "tls_cert_file": tls_files["tls_cert_file"],
            "tls_key_file": tls_files["tls_key_file"],
            "tls_client_ca_file": tls_files["ca"],
        }
    )
    with (
        Client(server.address, timeout=2, root_certificates=tls_files["ca"]) as anonymous,
        pytest.raises(UnavailableError),
    ):
        anonymous.list_plugins()

    client_cert = ca.issue_cert("crm-client@example.com")
    with Client(
        server.address,
        root_certificates=ca.cert_pem.bytes(),
        client_certificate=write_pem(client_cert.cert_chain_pems[0], tmp_path / "client.pem"),
        client_key=client_cert.private_key_pem.bytes(),
    ) as client:
        client.list_plugins()


def test_client_certificate_needs_its_key():
    with pytest.raises(ValueError, match="together"):
        Client("localhost:1", client_certificate=b"pem")


# --- infogap keys generate ----------------------------------------------------------------------


def test_keys_generate_prints_a_key_and_its_config():
    result = CliRunner().invoke(
        app, ["keys", "generate", "--name", "crm", "--scopes", "ingest,read"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    key = lines[lines.index("") + 1].strip()
    config = tomllib.loads(result.output[result.output.index("[[auth.keys]]") :])
    auth = AuthSettings(**config["auth"])
    assert [(k.name, k.sha256, k.scopes) for k in auth.keys] == [
        ("crm", hash_api_key(key), ["ingest", "read"])
    ]
    assert len(key) >= 40


def test_keys_generate_rejects_unknown_scopes():
    result = CliRunner().invoke(
        app, ["keys", "generate", "--name", "crm", "--scopes", "read,write"]
    )
    assert result.exit_code != 0
