"""What only the PostgreSQL store does, against a real server: monthly event partitions, one
database shared by two stores (as two replica servers share it): idempotent ingest, the replica
feed, notifications, the training lock, the privacy budget spent from both at once; and
``open_store``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from infogap.server.core.domain import Item, User, UserPatch
from infogap.server.core.errors import BudgetExhausted, StartupError, Unavailable
from infogap.server.core.store import (
    DuckDBStore,
    PostgreSQLStore,
    Store,
    open_store,
)
from infogap.server.core.store.postgresql.migrations import MIGRATIONS
from infogap.server.core.store.records import (
    ERASURE_CHANNEL,
    EVENTS_CHANNEL,
    ITEMS_CHANNEL,
    MODELS_CHANNEL,
    USERS_CHANNEL,
)
from tests.postgres import PostgresServer
from tests.server.core.store.conformance.builders import (
    T0,
    TYPE_WEIGHTS,
    decision,
    events,
    release,
)

OpenStore = Callable[[], PostgreSQLStore]


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    return postgres.fresh_database()


@pytest.fixture
def open_replica(url: str, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores on one database, each with its own folder and pool (as replicas would);
    closed at teardown."""
    opened: list[PostgreSQLStore] = []

    def open_one() -> PostgreSQLStore:
        store = PostgreSQLStore(url, tmp_path / f"replica-{len(opened)}")
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def _scalar(url: str, sql: str) -> object:
    with psycopg.connect(url) as db:
        row = db.execute(sql).fetchone()
        assert row is not None
        return row[0]


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_events_land_in_monthly_partitions_and_the_rest_in_the_default(
    open_replica: OpenStore, url: str
) -> None:
    store = open_replica()
    store.insert_events(
        events(
            {"event_id": "march", "user_id": "u", "event_time": datetime(2024, 3, 31, 23, 59)},
            {"event_id": "may", "user_id": "u", "event_time": datetime(2024, 5, 1)},
            {"event_id": "far", "user_id": "u", "event_time": datetime(9999, 12, 31)},
        )
    )
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT tableoid::regclass::text, event_id FROM events ORDER BY event_id"
        ).fetchall()
        partitions = db.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'events'::regclass ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("events_default", "far"),
        ("events_y2024m03", "march"),
        ("events_y2024m05", "may"),
    ]
    assert partitions == [("events_default",), ("events_y2024m03",), ("events_y2024m05",)]
    # Another store finds the partition made, and stores into it.
    other = open_replica()
    assert other.insert_events(
        events({"event_id": "march2", "user_id": "u", "event_time": datetime(2024, 3, 1)})
    ) == {"march2"}
    assert _scalar(url, "SELECT count(*) FROM events_y2024m03") == 2


def test_the_schema_is_migrated_once_and_sessions_run_in_utc(
    open_replica: OpenStore, url: str
) -> None:
    open_replica()
    open_replica()  # a second store finds the migrations applied
    assert _scalar(url, "SELECT count(*) FROM schema_migrations") == len(MIGRATIONS)
    store = open_replica()
    store.insert_events(events({"event_id": "e1", "user_id": "u", "event_time": T0}))
    assert _scalar(url, "SELECT event_time FROM events") == T0


def test_two_stores_storing_the_same_events_at_once_store_each_once(
    open_replica: OpenStore,
) -> None:
    stores = [open_replica(), open_replica()]
    stored: list[set[str]] = [set(), set()]

    def insert(index: int) -> None:
        for start in range(0, 200, 20):
            # Both stores send the same overlapping batches, in opposite orders.
            ids = [f"e{n}" for n in range(start, start + 40)][:: 1 if index else -1]
            batch = events(*({"event_id": i, "user_id": "u"} for i in ids))
            stored[index] |= stores[index].insert_events(batch)

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored[0].isdisjoint(stored[1])
    assert stored[0] | stored[1] == {f"e{n}" for n in range(220)}
    assert stores[0].item_event_counts("c").column("events").to_pylist() == [220]


def test_the_feed_tells_another_stores_events_once_even_when_they_commit_late(
    open_replica: OpenStore, url: str
) -> None:
    writer, reader = open_replica(), open_replica()
    _, watermark = reader.events_committed_after(None)
    writer.insert_events(events({"event_id": "e1", "user_id": "u"}))
    found, watermark = reader.events_committed_after(watermark)
    assert found.column("event_id").to_pylist() == ["e1"]
    assert found.column("event_time").to_pylist() == [T0]

    # A transaction that started first and commits last: the feed holds back what committed
    # after it started until it ends, then tells both.
    late = psycopg.connect(url)
    late.execute("INSERT INTO event_ids VALUES ('late')")
    late.execute(
        "INSERT INTO events (event_id, user_id, item_id, catalog, type, value, event_time, "
        "recommendation_id, context, received_at) "
        "VALUES ('late', 'u', 'i1', 'c', 'click', 1, %s, '', '{}', %s)",
        [T0, T0],
    )
    writer.insert_events(events({"event_id": "e2", "user_id": "u"}))
    seen: list[str] = []
    found, watermark = reader.events_committed_after(watermark)
    seen += found.column("event_id").to_pylist()
    assert seen == []  # e2 committed, but after "late" started: held back with it
    late.commit()
    late.close()
    for _ in range(2):
        found, watermark = reader.events_committed_after(watermark)
        seen += found.column("event_id").to_pylist()
    assert sorted(seen) == ["e2", "late"]

    # An aborted transaction is passed over, and the feed moves on.
    aborted = psycopg.connect(url)
    aborted.execute("INSERT INTO event_ids VALUES ('never')")
    aborted.rollback()
    aborted.close()
    writer.insert_events(events({"event_id": "e3", "user_id": "u"}))
    found, _ = reader.events_committed_after(watermark)
    assert found.column("event_id").to_pylist() == ["e3"]


def test_another_store_hears_events_trainings_and_erasures(open_replica: OpenStore) -> None:
    writer, watcher = open_replica(), open_replica()
    heard: list[tuple[str, str]] = []
    watcher.watch_changes(lambda channel, payload: heard.append((channel, payload)))
    writer.insert_events(events({"event_id": "e1", "user_id": "u1"}))
    writer.insert_events(events({"event_id": "e1", "user_id": "u1"}))  # stores nothing: silent
    writer.record_training([], [], decision("v1", True, catalog="books"))
    writer.delete_user("u1")
    expected = [(EVENTS_CHANNEL, ""), (MODELS_CHANNEL, "books"), (ERASURE_CHANNEL, "u1")]
    _wait_for(lambda: len(heard) >= 3)
    time.sleep(0.2)  # nothing more arrives
    assert heard == expected


def test_another_store_hears_which_users_and_items_were_written(open_replica: OpenStore) -> None:
    writer, watcher = open_replica(), open_replica()
    heard: list[tuple[str, str]] = []
    watcher.watch_changes(lambda channel, payload: heard.append((channel, payload)))
    writer.upsert_users([User("u2", {}), User("u1", {"tier": "gold"})], T0)
    writer.patch_users([UserPatch("u3", {"tier": "silver"}, ())], T0)
    writer.upsert_items([Item("i1", "books", {}, (), True), Item("i2", "films", {}, (), True)], T0)
    many = [User(f"user-with-a-long-identifier-{n:06d}", {}) for n in range(500)]
    writer.upsert_users(many, T0)  # too many ids for one notification: "any user"
    _wait_for(lambda: len(heard) >= 4)
    assert heard == [
        (USERS_CHANNEL, "u1\nu2"),
        (USERS_CHANNEL, "u3"),
        (ITEMS_CHANNEL, "books\nfilms"),
        (USERS_CHANNEL, ""),
    ]


def test_the_listener_connects_again_after_losing_its_connection(
    open_replica: OpenStore, url: str
) -> None:
    writer, watcher = open_replica(), open_replica()
    heard: list[tuple[str, str]] = []
    watcher.watch_changes(lambda channel, payload: heard.append((channel, payload)))
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
        )

    def heard_after_writing() -> bool:
        writer.record_training([], [], decision(f"v{len(heard)}-{time.monotonic()}", False))
        return bool(heard)

    _wait_for(heard_after_writing)
    assert heard[0][0] == MODELS_CHANNEL


def test_the_training_lock_is_one_for_all_stores(open_replica: OpenStore) -> None:
    first, second = open_replica(), open_replica()
    with first.try_training_lock("c") as held:
        assert held is True
        with second.try_training_lock("c") as taken:
            assert taken is False
        with second.try_training_lock("d") as other:
            assert other is True
    with second.try_training_lock("c") as free_again:
        assert free_again is True


def test_two_stores_spending_at_once_never_exceed_the_budget(open_replica: OpenStore) -> None:
    stores = [open_replica(), open_replica()]
    keys, values = np.array(["i1"], dtype=object), np.array([1.0])
    paid: list[int] = [0, 0, 0, 0]

    def spend(worker: int) -> None:
        store = stores[worker % 2]
        for _ in range(10):
            try:
                store.spend_privacy_budget(
                    "c", release(0.1), keys, values, window_start=T0, epsilon_budget=1.0
                )
                paid[worker] += 1
            except BudgetExhausted:
                pass

    threads = [threading.Thread(target=spend, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(paid) == 10
    assert stores[0].privacy_spent("c", T0) == pytest.approx(1.0)
    assert len(stores[1].privacy_releases("c", T0)) == 10


def test_open_store_chooses_the_backend_by_url(url: str, tmp_path: Path) -> None:
    opened: list[Store] = [
        open_store(None, tmp_path / "a"),
        open_store("", tmp_path / "b"),
        open_store(url, tmp_path / "c"),
        open_store(url.replace("postgresql://", "postgres://"), tmp_path / "d"),
    ]
    try:
        assert [type(store) for store in opened] == [
            DuckDBStore,
            DuckDBStore,
            PostgreSQLStore,
            PostgreSQLStore,
        ]
        assert opened[2].data_dir == tmp_path / "c" and opened[2].data_dir.is_dir()
    finally:
        for store in opened:
            store.close()
    with pytest.raises(StartupError, match="'mysql'"):
        open_store("mysql://somewhere/db", tmp_path / "e")


def test_a_database_that_cannot_be_reached_stops_the_start_without_its_password(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    unreachable = f"postgresql://someone:secret@127.0.0.1:{postgres.port}/no_such_database"
    with pytest.raises(StartupError, match="no_such_database") as refused:
        open_store(unreachable, tmp_path)
    assert "secret" not in str(refused.value)


def test_a_database_gone_meanwhile_is_unavailable_not_an_internal_error(
    postgres: PostgresServer, url: str, open_replica: OpenStore
):
    store = open_replica()
    store.insert_events(events({"event_id": "e1", "user_id": "u"}))
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # ends the store's sessions
    with pytest.raises(Unavailable, match="cannot be reached"):
        store.get_user("u")
    with pytest.raises(Unavailable):
        store.interactions("c", TYPE_WEIGHTS)
    with pytest.raises(Unavailable), store.try_training_lock("default"):
        pass
