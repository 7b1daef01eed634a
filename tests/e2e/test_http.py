"""The HTTP port against a real server: Connect JSON round trips answering as gRPC does, the
same errors and field violations, keys and TLS, and the health endpoints."""

from __future__ import annotations

import base64
import ssl

import pytest
from google.rpc import error_details_pb2

from infogap.client import Client

from ..conftest import load
from ..http_calls import call, rpc

# ca and tls_files are fixtures.
from .test_auth import KEYS, auth_settings, ca, tls_files  # noqa: F401


@pytest.fixture
def http_server(start_server):
    return start_server(http={"port": 0})


def test_a_connect_round_trip_answers_as_grpc_does(http_server, tastes):
    url = http_server.http_url
    users = [{"userId": user["user_id"]} for user in tastes.users[:3]]
    assert rpc(url, "ProfileService/UpsertUsers", {"users": users}) == (200, {"upsertedCount": 3})
    with Client(http_server.address) as grpc_client:
        load(grpc_client, tastes)
        status, trained = rpc(url, "AdminService/Train", {})
        assert status == 200, trained
        serving = grpc_client.model_info().last_decision.candidate_version
        assert trained["decision"]["candidateVersion"] == serving
        user = tastes.users[0]["user_id"]
        event = {
            "eventId": "http-1",
            "userId": user,
            "itemId": tastes.items[0]["item_id"],
            "type": "click",
        }
        status, recorded = rpc(url, "FeedbackService/RecordEvents", {"events": [event]})
        assert (status, recorded["storedCount"]) == (200, 1)
        status, answer = rpc(url, "RecommendService/Recommend", {"userId": user, "count": 5})
        assert status == 200
        expected = [item.item_id for item in grpc_client.recommend(user, count=5).items]
    assert [item["itemId"] for item in answer["items"]] == expected
    assert tastes.items[0]["item_id"] not in expected  # the event recorded over HTTP counts


def test_a_bad_request_gets_connects_error_with_the_field_violations(http_server):
    status, error = rpc(http_server.http_url, "RecommendService/Recommend", {"count": 5})
    assert status == 400
    assert error["code"] == "invalid_argument"
    assert "user_id" in error["message"]
    [detail] = error["details"]
    assert detail["type"] == "google.rpc.BadRequest"
    value = detail["value"] + "=" * (-len(detail["value"]) % 4)  # Connect drops the padding
    violations = error_details_pb2.BadRequest.FromString(base64.b64decode(value))
    assert [(v.field, v.description) for v in violations.field_violations] == [
        ("user_id", "must not be empty")
    ]


def test_not_found_and_failed_precondition_keep_their_codes(http_server):
    status, error = rpc(http_server.http_url, "RecommendService/Recommend", {"userId": "u"})
    assert (status, error["code"]) == (400, "failed_precondition")  # nothing trained yet
    status, error = rpc(http_server.http_url, "ProfileService/GetProfile", {"userId": "nobody"})
    assert (status, error["code"]) == (404, "not_found")
    status, error = rpc(http_server.http_url, "RecommendService/NoSuchMethod", {})
    assert status == 404


def test_malformed_json_is_invalid_argument_and_stores_nothing(http_server):
    url = f"{http_server.http_url}/infogap.v1.ProfileService/UpsertUsers"
    status, error = call(url, {"users": [{"userId": 5, "nope": {}}], "extra": 1})
    assert status == 400 and error["code"] == "invalid_argument"
    status, _ = rpc(http_server.http_url, "ProfileService/GetProfile", {"userId": "5"})
    assert status == 404


def test_keys_and_scopes_apply_as_on_grpc(start_server):
    server = start_server(http={"port": 0}, auth=auth_settings())
    url = server.http_url
    status, error = rpc(url, "AdminService/ListPlugins", {})
    assert (status, error["code"]) == (401, "unauthenticated")
    bearer = {"Authorization": f"Bearer {KEYS['read']}"}
    status, error = rpc(url, "AdminService/ListPlugins", {}, headers=bearer)
    assert (status, error["code"]) == (403, "permission_denied")
    assert "'admin' scope" in error["message"]
    admin = {"Authorization": f"Bearer {KEYS['admin']}"}
    assert rpc(url, "AdminService/ListPlugins", {}, headers=admin)[0] == 200
    basic = base64.b64encode(f"console:{KEYS['admin']}".encode()).decode()
    status, _ = rpc(
        url, "AdminService/ListPlugins", {}, headers={"Authorization": f"Basic {basic}"}
    )
    assert status == 200
    status, error = rpc(url, "AdminService/ListPlugins", {}, headers={"Authorization": "Bearer x"})
    assert (status, error["code"]) == (401, "unauthenticated")
    # Health stays open to load balancers.
    assert call(f"{url}/readyz") == (200, {"status": "SERVING"})


def test_a_key_past_its_rate_gets_resource_exhausted(start_server):
    server = start_server(
        http={"port": 0},
        auth=auth_settings(requests_per_second_per_key=0.001, burst=2),
    )
    admin = {"Authorization": f"Bearer {KEYS['admin']}"}
    codes = [
        rpc(server.http_url, "AdminService/ListPlugins", {}, headers=admin)[0] for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_https_with_the_grpc_certificate(start_server, tls_files):  # noqa: F811
    server = start_server(
        http={"port": 0},
        auth={
            "tls_cert_file": tls_files["tls_cert_file"],
            "tls_key_file": tls_files["tls_key_file"],
        },
    )
    assert server.http_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(tls_files["ca"]))
    status, answer = rpc(server.http_url, "AdminService/ListPlugins", {}, context=context)
    assert status == 200 and answer["plugins"]


def test_https_with_mutual_tls_needs_a_client_certificate(start_server, tls_files, ca, tmp_path):  # noqa: F811
    server = start_server(
        http={"port": 0},
        auth={
            "tls_cert_file": tls_files["tls_cert_file"],
            "tls_key_file": tls_files["tls_key_file"],
            "tls_client_ca_file": tls_files["ca"],
        },
    )
    url = f"{server.http_url}/infogap.v1.AdminService/ListPlugins"
    anonymous = ssl.create_default_context(cafile=str(tls_files["ca"]))
    with pytest.raises(OSError):  # the handshake fails (urllib wraps it in URLError)
        call(url, {}, context=anonymous, timeout=5)
    client_cert = ca.issue_cert("crm-client@example.com")
    identified = ssl.create_default_context(cafile=str(tls_files["ca"]))
    client_cert.configure_cert(identified)
    status, answer = call(url, {}, context=identified)
    assert status == 200 and answer["plugins"]


def test_readyz_follows_the_drain_while_calls_are_still_answered(start_server):
    server = start_server(http={"port": 0}, server={"drain_seconds": 0})
    assert call(f"{server.http_url}/readyz") == (200, {"status": "SERVING"})
    assert call(f"{server.http_url}/healthz")[0] == 200
    server._set_serving(False)  # the drain's first step, without stopping
    assert call(f"{server.http_url}/readyz") == (503, {"status": "NOT_SERVING"})
    with Client(server.address) as client:
        assert client.health() == "NOT_SERVING"
        assert client.list_plugins()  # still served
    assert rpc(server.http_url, "AdminService/ListPlugins", {})[0] == 200


def test_no_http_listener_unless_asked(server):
    assert server.http_url is None and server.http_port is None


def test_cors_lets_the_configured_origins_call_from_a_browser(start_server):
    import urllib.request

    server = start_server(http={"port": 0, "cors_origins": ["https://crm.example"]})
    url = f"{server.http_url}/infogap.v1.AdminService/ListPlugins"
    preflight = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": "https://crm.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,connect-protocol-version",
        },
    )
    with urllib.request.urlopen(preflight) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == "https://crm.example"
        assert "Connect-Protocol-Version" in answer.headers["Access-Control-Allow-Headers"]
    request = urllib.request.Request(
        url,
        data=b"{}",
        headers={"Origin": "https://crm.example", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["Access-Control-Allow-Origin"] == "https://crm.example"
    other = urllib.request.Request(
        url,
        data=b"{}",
        headers={"Origin": "https://evil.example", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(other) as answer:
        assert answer.headers["Access-Control-Allow-Origin"] is None
