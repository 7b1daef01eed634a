"""Prometheus metrics of a real server, moved by real traffic through the SDK and read back as
the Prometheus text ``/metrics`` serves (``generate_latest`` of the server's own registry)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from infogap.client import Client, InvalidArgumentError, UnauthenticatedError
from infogap.server.transport.auth import hash_api_key
from infogap.server.transport.metrics import RpcMetrics
from infogap.server.transport.server import InfoGapServer

from ...conftest import StartServer, load
from ...http_calls import call, rpc
from ...synthetic import TwoTastes

RECOMMEND = "/infogap.v1.RecommendService/Recommend"
RECORD = "/infogap.v1.FeedbackService/RecordEvents"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: InfoGapServer) -> Samples:
    """Every sample of the server's registry, parsed back from its Prometheus text."""
    assert server.metrics_registry is not None
    text = generate_latest(server.metrics_registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled series not seen yet (counters start at 0)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def rpc_count(samples: Samples, method: str, code: str) -> float:
    return value(samples, "infogap_rpc_requests_total", transport="grpc", method=method, code=code)


@pytest.fixture
def metered(start_server: StartServer) -> Iterator[tuple[InfoGapServer, Client]]:
    server = start_server()
    with Client(server.address, timeout=30) as client:
        yield server, client


def test_requests_and_latencies_are_counted_per_rpc_and_status(metered, tastes: TwoTastes):
    server, client = metered
    load(client, tastes)
    client.train()
    user = tastes.users[0]["user_id"]
    before = scrape(server)
    for _ in range(3):
        client.recommend(user)
    with pytest.raises(InvalidArgumentError):
        client.recommend(user, count=-1)
    after = scrape(server)
    assert rpc_count(after, RECOMMEND, "OK") - rpc_count(before, RECOMMEND, "OK") == 3
    assert (
        rpc_count(after, RECOMMEND, "INVALID_ARGUMENT")
        - rpc_count(before, RECOMMEND, "INVALID_ARGUMENT")
        == 1
    )
    labels = {"transport": "grpc", "method": RECOMMEND, "code": "OK"}
    count = value(after, "infogap_rpc_duration_seconds_count", **labels)
    assert count == rpc_count(after, RECOMMEND, "OK")
    total_seconds = value(after, "infogap_rpc_duration_seconds_sum", **labels)
    assert 0 < total_seconds < 30
    # Every call landed in a bucket no wider than the total time of all of them.
    assert value(after, "infogap_rpc_duration_seconds_bucket", le="+Inf", **labels) == count


def test_ingestion_counts_stored_events_duplicates_and_group_commits(metered, tastes):
    server, client = metered
    events = tastes.events[:50]
    before = scrape(server)
    client.record(events)
    client.record(events)  # redelivered: nothing stored twice
    after = scrape(server)

    def moved(name: str) -> float:
        return value(after, name) - value(before, name)

    assert moved("infogap_events_stored_total") == 50
    assert moved("infogap_events_duplicate_total") == 50
    assert moved("infogap_group_commit_events_count") == 2
    assert moved("infogap_group_commit_events_sum") == 100
    assert moved("infogap_group_commit_seconds_count") == 2
    assert value(after, "infogap_ingest_queue_depth") == 0
    assert rpc_count(after, RECORD, "OK") - rpc_count(before, RECORD, "OK") == 2


def test_training_and_the_serving_model_versions_and_ages(metered, tastes):
    server, client = metered
    load(client, tastes)
    assert not [key for key in scrape(server) if key[0] == "infogap_model_info"]
    trained_at = time.time()
    client.train()
    samples = scrape(server)
    assert value(samples, "infogap_trainings_total", catalog="default", outcome="promoted") == 1
    assert value(samples, "infogap_training_seconds_count", catalog="default", outcome="promoted")
    for model in client.model_info().models:
        version = {"catalog": "default", "strategy": model.strategy, "version": model.version}
        assert value(samples, "infogap_model_info", **version) == 1
        age = value(
            samples, "infogap_model_age_seconds", catalog="default", strategy=model.strategy
        )
        assert 0 <= age <= time.time() - trained_at + 1
    with pytest.raises(Exception):  # noqa: B017  # an unknown catalog has no data to train on
        client.train("empty")
    failed = value(scrape(server), "infogap_trainings_total", catalog="empty", outcome="failed")
    assert failed == 1


def test_profile_and_event_type_caches_count_hits_and_misses(metered, tastes):
    server, client = metered
    load(client, tastes)
    client.train()
    user = tastes.users[1]["user_id"]

    def lookups(cache: str, result: str) -> float:
        return value(scrape(server), "infogap_cache_lookups_total", cache=cache, result=result)

    misses, hits = lookups("profiles", "miss"), lookups("profiles", "hit")
    client.profile(user)
    client.profile(user)
    assert lookups("profiles", "miss") - misses == 1
    assert lookups("profiles", "hit") - hits == 1
    misses, hits = lookups("event_types", "miss"), lookups("event_types", "hit")
    client.recommend(user)
    client.recommend(user)  # the same items explained again, from memory
    assert lookups("event_types", "miss") - misses == 1
    assert lookups("event_types", "hit") - hits == 1


def test_experiment_exposure_per_variant(metered, tastes):
    server, client = metered
    load(client, tastes)
    client.train()
    client.create_experiment("a-a", [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}])
    client.start_experiment("a-a")
    users = [user["user_id"] for user in tastes.users[:20]]
    for user in users + users[:5]:  # five users come back: assigned once, served twice
        client.recommend(user)
    samples = scrape(server)
    assert value(samples, "infogap_experiment_running", experiment="a-a", catalog="default") == 1
    report = client.experiment_report("a-a")
    assignments = lists = 0.0
    for variant in report.variants:
        arm = {"experiment": "a-a", "variant": variant.variant}
        served = value(samples, "infogap_experiment_recommendations_total", **arm)
        assert served == variant.recommendations
        assert value(samples, "infogap_experiment_impressions_total", **arm) == variant.impressions
        lists += served
        assignments += value(samples, "infogap_experiment_assignments_total", **arm)
    assert (assignments, lists) == (20, 25)
    client.stop_experiment("a-a")
    assert not [key for key in scrape(server) if key[0] == "infogap_experiment_running"]


def test_privacy_budget_remaining_per_catalog(start_server: StartServer, tastes):
    server = start_server(
        privacy={"enabled": True, "epsilon_per_window": 100.0},
        plugins={"disabled": ["lightfm"]},
        profiles={"clusters": 0},
        lifecycle={"validation_fraction": 0.0},
    )
    with Client(server.address, timeout=30) as client:
        load(client, tastes)
        client.train()
        remaining = client.privacy_budget().epsilon_remaining
    assert remaining < 100.0  # the popularity lists spent some
    gauge = value(scrape(server), "infogap_privacy_budget_remaining_epsilon", catalog="default")
    assert gauge == pytest.approx(remaining)


def test_calls_refused_by_authentication_are_counted(start_server: StartServer):
    key = "metrics-test-key-0123456789"
    server = start_server(
        auth={"keys": [{"name": "reader", "sha256": hash_api_key(key), "scopes": ["read"]}]}
    )
    segments = "/infogap.v1.ProfileService/ListSegments"
    intruder = Client(server.address, timeout=30, api_key="wrong-key-0123456789")
    with intruder, pytest.raises(UnauthenticatedError):
        intruder.list_segments()
    with Client(server.address, timeout=30, api_key=key) as reader:
        reader.list_segments()
    samples = scrape(server)
    assert rpc_count(samples, segments, "UNAUTHENTICATED") == 1
    assert rpc_count(samples, segments, "OK") == 1


def test_metrics_off_leaves_no_registry_and_the_server_serves(start_server: StartServer, tastes):
    server = start_server(telemetry={"metrics": False})
    assert server.metrics_registry is None and server.rpc_metrics is None
    with Client(server.address, timeout=30) as client:
        assert client.record(tastes.events[:10]).stored_count == 10


def test_servers_in_one_process_keep_their_figures_apart(start_server: StartServer, tmp_path):
    first, second = start_server(), start_server(data_dir=tmp_path / "second")
    segments = "/infogap.v1.ProfileService/ListSegments"
    with Client(first.address, timeout=30) as client:
        client.list_segments()
    assert rpc_count(scrape(first), segments, "OK") == 1
    assert rpc_count(scrape(second), segments, "OK") == 0


def test_other_transports_record_through_observe_rpc_with_codes_in_capitals():
    registry = CollectorRegistry()
    metrics = RpcMetrics(registry)
    metrics.observe_rpc("connect", RECOMMEND, "invalid_argument", 0.002)
    metrics.observe_rpc("connect", RECOMMEND, "ok", 0.001)
    metrics.observe_rpc("connect", RECOMMEND, "canceled", 0.001)
    labels = {"transport": "connect", "method": RECOMMEND}
    assert (
        registry.get_sample_value(
            "infogap_rpc_requests_total", {**labels, "code": "INVALID_ARGUMENT"}
        )
        == 1
    )
    assert registry.get_sample_value(
        "infogap_rpc_duration_seconds_sum", {**labels, "code": "OK"}
    ) == pytest.approx(0.001)
    # Connect spells it with one L; recorded as gRPC does, so the two transports compare.
    assert registry.get_sample_value("infogap_rpc_requests_total", {**labels, "code": "CANCELLED"})


def test_metrics_over_http_count_connect_calls_beside_grpc_ones(start_server: StartServer):
    server = start_server(http={"port": 0})
    assert server.http_url is not None
    segments = "/infogap.v1.ProfileService/ListSegments"
    assert rpc(server.http_url, "ProfileService/ListSegments", {})[0] == 200
    assert rpc(server.http_url, "RecommendService/Recommend", {"count": 5})[0] == 400
    with Client(server.address, timeout=30) as client:
        client.list_segments()
    status, text = call(f"{server.http_url}/metrics")
    assert status == 200
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }

    def count(transport: str, method: str, code: str) -> float:
        labels = {"transport": transport, "method": method, "code": code}
        return value(samples, "infogap_rpc_requests_total", **labels)

    assert count("connect", segments, "OK") == 1
    assert count("connect", RECOMMEND, "INVALID_ARGUMENT") == 1
    assert count("grpc", segments, "OK") == 1
    assert "infogap_ingest_queue_depth 0.0" in text


def test_metrics_over_http_need_a_read_key_when_keys_are_configured(start_server: StartServer):
    keys = {scope: f"metrics-{scope}-key-0123456789" for scope in ("read", "ingest")}
    server = start_server(
        http={"port": 0},
        auth={
            "keys": [
                {"name": scope, "sha256": hash_api_key(key), "scopes": [scope]}
                for scope, key in keys.items()
            ]
        },
    )
    url = f"{server.http_url}/metrics"
    status, error = call(url)
    assert (status, error["code"]) == (401, "unauthenticated")
    status, error = call(url, headers={"Authorization": f"Bearer {keys['ingest']}"})
    assert (status, error["code"]) == (403, "permission_denied")
    status, text = call(url, headers={"Authorization": f"Bearer {keys['read']}"})
    assert status == 200 and "infogap_events_stored_total 0.0" in text


def test_no_metrics_path_with_metrics_off(start_server: StartServer):
    server = start_server(http={"port": 0}, telemetry={"metrics": False})
    assert call(f"{server.http_url}/metrics")[0] == 404
