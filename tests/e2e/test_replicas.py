"""Replicas: InfoGap servers sharing one PostgreSQL store and one artifact folder, each with a
data directory of its own, talked to through the SDK.

Most servers here run in this process (separate cores, separate connection pools: nothing is
shared but PostgreSQL and the artifact folder); the crash test runs ``infogap serve`` as a
process of its own, to kill it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infogap.client import Client, FailedPreconditionError, InfoGapError, NotFoundError
from infogap.server.transport.server import InfoGapServer

from ..conftest import load
from ..synthetic import TwoTastes
from .test_feedback import free_port, wait_until_serving

SEGMENT_SIZES = "profile-segments"  # the privacy ledger's entry of released segment sizes

# Deadlines of the waits below. The "within a second" is measured by `make bench`
# (bench/replicas.py); a test only asserts that it happens, with room for a loaded machine.
EVENT_DEADLINE = 10.0
MODEL_DEADLINE = 30.0


@pytest.fixture
def shared(postgres, tmp_path: Path) -> dict[str, Any]:
    """Settings every replica of one test shares: a fresh database, one artifact folder."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return {
        "store": {"url": postgres.fresh_database(), "poll_seconds": 0.2, "model_poll_seconds": 1},
        "artifacts": {"url": artifacts.as_uri()},
    }


@pytest.fixture
def replicas(start_server, shared, tmp_path: Path) -> Callable[..., tuple[InfoGapServer, ...]]:
    def start(count: int = 2, **overrides: Any) -> tuple[InfoGapServer, ...]:
        return tuple(
            start_server(tmp_path / f"replica-{n}", **shared, **overrides) for n in range(count)
        )

    return start


@pytest.fixture
def clients() -> Iterator[Callable[[InfoGapServer], Client]]:
    opened: list[Client] = []

    def open_client(server: InfoGapServer) -> Client:
        opened.append(Client(server.address, timeout=60))
        return opened[-1]

    yield open_client
    for client in opened:
        client.close()


def eventually(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Waits until ``check()`` holds; returns how long it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def serves(client: Client, version: str) -> bool:
    try:
        return any(model.version == version for model in client.model_info().models)
    except NotFoundError:  # no model yet
        return False


def item_ids(client: Client, user_id: str, count: int = 10) -> list[str]:
    return [item.item_id for item in client.recommend(user_id, count=count).items]


def test_a_model_trained_through_one_replica_is_served_by_the_other(
    replicas, clients, tastes: TwoTastes
):
    a, b = (clients(server) for server in replicas())
    load(a, tastes)
    trained = a.train()
    version = trained.models[0].version
    eventually(
        lambda: serves(b, version),
        MODEL_DEADLINE,
        "B serving A's version",
    )
    for user_id in ("red-user-0", "blue-user-3", "stranger"):
        assert item_ids(b, user_id) == item_ids(a, user_id)


def test_an_event_recorded_through_one_replica_is_excluded_by_the_other(
    replicas, clients, tastes: TwoTastes
):
    a, b = (clients(server) for server in replicas())
    load(a, tastes)
    version = a.train().models[0].version
    eventually(
        lambda: serves(b, version),
        MODEL_DEADLINE,
        "B serving A's version",
    )
    user_id = "red-user-0"
    first = item_ids(b, user_id)[0]
    a.record([{"user_id": user_id, "item_id": first, "type": "purchase"}])
    eventually(lambda: first not in item_ids(b, user_id), EVENT_DEADLINE, "B excluding it")


def test_the_same_batch_sent_to_both_replicas_is_stored_once(replicas, clients, shared):
    a, b = (clients(server) for server in replicas())
    batch = [
        {"event_id": f"e{n}", "user_id": f"u{n % 7}", "item_id": f"i{n % 11}", "type": "view"}
        for n in range(300)
    ]
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def send(client: Client) -> None:
        barrier.wait()
        results.append(client.record(batch))

    threads = [threading.Thread(target=send, args=(c,)) for c in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.stored_count for r in results) == 300
    assert sum(r.duplicate_count for r in results) == 300
    assert stored_event_count(shared) == 300


def stored_event_count(shared: dict[str, Any]) -> int:
    with psycopg.connect(shared["store"]["url"]) as db:
        row = db.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])


def test_two_train_calls_on_two_replicas_at_once_make_one_version(
    replicas, clients, tastes: TwoTastes
):
    a, b = (clients(server) for server in replicas())
    load(a, tastes)
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def train(client: Client) -> None:
        barrier.wait()
        try:
            outcomes.append(client.train())
        except FailedPreconditionError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=train, args=(c,)) for c in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, FailedPreconditionError)]
    assert len(refused) == 1, outcomes
    assert "another replica" in str(refused[0])
    versions = {m.version for o in outcomes if not isinstance(o, Exception) for m in o.models}
    assert len(versions) == 1


def test_an_erasure_through_one_replica_reaches_the_other(replicas, clients, tastes: TwoTastes):
    a, b = (clients(server) for server in replicas())
    load(a, tastes)
    version = a.train().models[0].version
    eventually(
        lambda: serves(b, version),
        MODEL_DEADLINE,
        "B serving A's version",
    )
    user_id = "red-user-1"
    b.profile(user_id)  # known, and now in B's profile cache
    assert b.recommend(user_id).strategy != "popularity"
    a.delete_user(user_id)

    def forgotten_by_b() -> bool:
        try:
            b.profile(user_id)
        except NotFoundError:
            return True
        return False

    eventually(forgotten_by_b, EVENT_DEADLINE, "B forgetting the profile")
    # B serves them as the stranger they now are, from its memory as from the shared files.
    eventually(
        lambda: b.recommend(user_id).strategy == "popularity",
        MODEL_DEADLINE,
        "B forgetting the model's user",
    )


def test_users_and_items_written_through_one_replica_reach_the_others_caches(
    replicas, clients, tastes: TwoTastes
):
    a, b = (clients(server) for server in replicas())
    load(a, tastes)
    user_id = "blue-user-2"
    assert b.profile(user_id).attributes["segment"] == "blue"  # now in B's profile cache
    a.upsert_users([{"user_id": user_id, "attributes": {"segment": "green"}}])
    eventually(
        lambda: b.profile(user_id).attributes["segment"] == "green",
        EVENT_DEADLINE,
        "B dropping the cached profile",
    )
    a.patch_users([{"user_id": user_id, "set_attributes": {"tier": "gold"}}])
    eventually(
        lambda: b.profile(user_id).attributes.get("tier") == "gold",
        EVENT_DEADLINE,
        "B dropping it again",
    )


def test_the_privacy_budget_is_not_overspent_by_two_replicas(replicas, clients, tastes):
    budget = 5.0
    servers = replicas(
        privacy={"enabled": True, "epsilon_per_window": budget, "epsilon_per_release": 1.0},
        plugins={"disabled": ["lightfm"]},
        profiles={"clusters": 0},
        lifecycle={"validation_fraction": 0.0},
    )
    a, b = (clients(server) for server in servers)
    load(a, tastes)
    a.define_segment("big", "count.purchase >= 1", description="buyers")
    barrier = threading.Barrier(8)

    def list_segments(client: Client) -> None:
        barrier.wait()
        for _ in range(5):
            client.list_segments()
            client.upsert_users([{"user_id": f"new-{time.monotonic_ns()}"}])  # new data

    threads = [threading.Thread(target=list_segments, args=(c,)) for c in (a, b) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Forty calls on new data wanted to pay: the budget is spent, and not one epsilon more.
    spent = [client.privacy_budget(SEGMENT_SIZES).epsilon_spent for client in (a, b)]
    assert spent == [budget, budget]
    assert len(a.privacy_budget(SEGMENT_SIZES).releases) >= budget


def test_no_acknowledged_event_is_lost_when_a_replica_is_killed(shared, tmp_path: Path):
    port = free_port()
    env = {
        **os.environ,
        "INFOGAP_STORE__URL": shared["store"]["url"],
        "INFOGAP_ARTIFACTS__URL": shared["artifacts"]["url"],
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "infogap.server", "serve", "--data-dir", str(tmp_path / "a")]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(writer: int) -> None:
        with Client(f"127.0.0.1:{port}", timeout=30) as client:
            n = 0
            while not stop.is_set():
                ids = [f"w{writer}-{n}-{k}" for k in range(20)]
                try:
                    client.record(
                        [
                            {"event_id": i, "user_id": f"u{writer}", "item_id": i, "type": "view"}
                            for i in ids
                        ]
                    )
                except InfoGapError:  # the server is gone: what was not acknowledged may be
                    return
                with lock:
                    acknowledged.extend(ids)
                n += 1

    try:
        with Client(f"127.0.0.1:{port}", timeout=30) as client:
            wait_until_serving(client)
        writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in writers:
            thread.start()
        eventually(lambda: len(acknowledged) >= 400, 60, "400 acknowledged events")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        stop.set()
        for thread in writers:
            thread.join()
    finally:
        if process.poll() is None:
            process.kill()
    with psycopg.connect(shared["store"]["url"]) as db:
        stored = {row[0] for row in db.execute("SELECT event_id FROM events")}
    assert len(acknowledged) >= 400
    assert set(acknowledged) <= stored


def test_an_experiment_started_through_one_replica_splits_the_other_alike(
    replicas, clients, tastes: TwoTastes
):
    a, b = (clients(server) for server in replicas())
    load(a, tastes)
    version = a.train().models[0].version
    eventually(lambda: serves(b, version), MODEL_DEADLINE, "B serving A's version")
    a.create_experiment("a-a", [{"name": "left", "share": 0.5}, {"name": "right", "share": 0.5}])
    a.start_experiment("a-a")
    eventually(lambda: b.recommend("x").experiment == "a-a", MODEL_DEADLINE, "B splitting")
    users = [f"visitor-{n}" for n in range(40)]
    variants = [a.recommend(user_id).variant for user_id in users]
    assert [b.recommend(user_id).variant for user_id in users] == variants
    assert set(variants) == {"left", "right"}
    # Both replicas' lists reach the shared report (B writes its own within a second).
    eventually(
        lambda: sum(v.impressions for v in a.experiment_report("a-a").variants) >= 2 * len(users),
        EVENT_DEADLINE,
        "both replicas' impressions in the report",
    )
    a.stop_experiment("a-a")
    eventually(lambda: b.recommend("x").experiment == "", MODEL_DEADLINE, "B serving as usual")
