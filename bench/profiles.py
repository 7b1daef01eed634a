"""GetProfile computed (a cache miss) through the SDK: the per-user path (one indexed read of the
user's events, aggregated in Python) against the aggregate queries it replaced, both measured
in the same run on the same data, one call for each of 200 users.

- at 100,000 events (MovieLens 100K), for 200 MovieLens users;
- at 1,000,000 events, once synthetic users have grown the table, for 200 MovieLens users
  (each user's events lie together, as they were loaded) and 200 synthetic users (their
  events are spread over the whole table, as live traffic leaves them);
- a user with 10,000 events, computed (both paths) and cached.

The server runs in this process, restarted on the same data directory for each path (the
aggregate path is ``profiles.event_path_max_users = 0``). A cache miss is forced by asking for a
profile "as of" a moment not asked for before.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infogap.client import Client
from infogap.server.assembly import build_server
from infogap.server.cli.client_commands import send_events, send_items, send_users
from infogap.server.config import load_settings
from infogap.server.datasets import movielens

from .report import table

TARGET_MS = 5.0
TIMED_USERS = 200
MOVIELENS_USERS = 943
HEAVY_USER = "heavy-user"
HEAVY_EVENTS = 10_000
HEAVY_CALLS = 50
LARGE_TABLE_EVENTS = 1_000_000
SYNTHETIC_USERS = 20_000  # about 45 events each, spread over MovieLens's months
SYNTHETIC_BATCH = 1_000
AS_OF = datetime(1998, 6, 1)  # after MovieLens's last rating
PER_USER: dict[str, Any] = {}
STORE_URL: list[str] = []  # the PostgreSQL store the servers use, while its bench runs
AGGREGATES: dict[str, Any] = {"profiles": {"event_path_max_users": 0}}


def _summary_ms(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {
        "median_ms": statistics.median(timings),
        "p95_ms": timings[int(0.95 * (len(timings) - 1))],
        "calls": len(timings),
    }


@contextmanager
def _client(data_dir: Path, overrides: dict[str, Any]) -> Iterator[Client]:
    """An SDK client of a server started on ``data_dir`` (and the store ``STORE_URL`` names,
    when set) for the block."""
    store = {"store": {"url": STORE_URL[0]}} if STORE_URL else {}
    settings = load_settings(data_dir=data_dir, host="127.0.0.1", port=0, **overrides, **store)
    server = build_server(settings).start()
    try:
        with Client(server.address, timeout=120) as client:
            yield client
    finally:
        server.stop(grace=0)


def _time_computed(client: Client, users: Sequence[str]) -> dict[str, float]:
    """One computed profile per user, each "as of" a moment of its own (a cache miss)."""
    for user in users[:5]:  # warm-up: connections, DuckDB's first reads
        client.profile(user, as_of=AS_OF + timedelta(days=1))
    timings = []
    for n, user in enumerate(users):
        started = time.perf_counter()
        client.profile(user, as_of=AS_OF - timedelta(seconds=n))
        timings.append((time.perf_counter() - started) * 1000)
    return _summary_ms(timings)


def _compare(
    data_dir: Path, users: Sequence[str], label: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    """The two paths timed on the same users, one server after the other."""
    found: dict[str, Any] = {}
    for name, overrides in (("per_user", PER_USER), ("aggregates", AGGREGATES)):
        progress(f"profiles: {label}, {name.replace('_', ' ')} path")
        with _client(data_dir, overrides) as client:
            found[name] = _time_computed(client, users)
            if name == "per_user":
                counts = [client.profile(u, as_of=AS_OF).behaviour.event_count for u in users]
                found["mean_events"] = statistics.mean(counts)
    found["speedup"] = found["aggregates"]["median_ms"] / found["per_user"]["median_ms"]
    return found


def _heavy_events() -> list[dict[str, Any]]:
    rng = random.Random(7)
    start = datetime(1998, 1, 1, tzinfo=UTC)
    return [
        {
            "event_id": uuid.uuid4().hex,
            "user_id": HEAVY_USER,
            "item_id": str(rng.randint(1, 1682)),
            "type": rng.choice(["view", "click", "purchase", "rating"]),
            "value": float(rng.randint(1, 5)),
            "time": start + timedelta(minutes=17 * n),
        }
        for n in range(HEAVY_EVENTS)
    ]


def _synthetic_batches(count: int) -> Iterator[list[dict[str, Any]]]:
    """``count`` rating events of synthetic users, interleaved in time and user as live traffic
    would be, so no part of the table holds one user's events together."""
    rng = random.Random(11)
    start = datetime(1997, 9, 20, tzinfo=UTC)
    for first in range(0, count, SYNTHETIC_BATCH):
        yield [
            {
                "event_id": f"synthetic-{n}",
                "user_id": f"synthetic-{n % SYNTHETIC_USERS}",
                "item_id": str(rng.randint(1, 1682)),
                "type": "rating",
                "value": float(rng.randint(1, 5)),
                "time": start + timedelta(seconds=(n * 7919) % 18_000_000),
            }
            for n in range(first, min(first + SYNTHETIC_BATCH, count))
        ]


def _cached_ms(client: Client, user: str) -> dict[str, float]:
    client.profile(user)  # computed once, then served from the cache
    timings = []
    for _ in range(HEAVY_CALLS):
        started = time.perf_counter()
        client.profile(user)
        timings.append((time.perf_counter() - started) * 1000)
    return _summary_ms(timings)


def benchmark_profiles(
    dataset: Path, work_dir: Path, progress: Callable[[str], None], store_url: str | None = None
) -> dict:
    """The figures on DuckDB, or on the PostgreSQL database ``store_url``."""
    STORE_URL[:] = [store_url] if store_url else []
    try:
        return _benchmark(
            dataset, work_dir / ("profiles-pg" if store_url else "profiles"), progress
        )
    finally:
        STORE_URL.clear()


def _benchmark(dataset: Path, data_dir: Path, progress: Callable[[str], None]) -> dict:
    rng = random.Random(3)
    movielens_users = [str(u) for u in rng.sample(range(1, MOVIELENS_USERS + 1), TIMED_USERS)]
    synthetic_users = [f"synthetic-{u}" for u in rng.sample(range(SYNTHETIC_USERS), TIMED_USERS)]
    progress("profiles: loading MovieLens")
    with _client(data_dir, PER_USER) as loader:
        send_users(loader, dataset / movielens.USERS_FILE, movielens.users(dataset))
        send_items(loader, dataset / movielens.ITEMS_FILE, movielens.items(dataset))
        send_events(loader, dataset / movielens.EVENTS_FILE, movielens.events(dataset))
    results: dict[str, Any] = {
        "target_ms": TARGET_MS,
        "small_table_events": 100_000,
        "small": _compare(data_dir, movielens_users, "100,000 events", progress),
    }
    progress(f"profiles: a user with {HEAVY_EVENTS:,} events")
    with _client(data_dir, PER_USER) as client:
        client.record(_heavy_events())
        results["heavy_cached"] = _cached_ms(client, HEAVY_USER)
    heavy_label = f"a user with {HEAVY_EVENTS:,} events"
    results["heavy"] = _compare(data_dir, [HEAVY_USER] * HEAVY_CALLS, heavy_label, progress)
    progress("profiles: growing the events table to 1,000,000")
    with _client(data_dir, PER_USER) as client:
        client.stream_events(_synthetic_batches(LARGE_TABLE_EVENTS - 100_000 - HEAVY_EVENTS))
    results["large_table_events"] = LARGE_TABLE_EVENTS
    label = f"{LARGE_TABLE_EVENTS:,} events"
    results["large_movielens"] = _compare(data_dir, movielens_users, label, progress)
    results["large_synthetic"] = _compare(data_dir, synthetic_users, label, progress)
    return results


def report_lines(profiles: dict[str, Any], backend: str = "DuckDB") -> list[str]:
    """The summary's section: both paths per table size and kind of user, and the target."""

    def row(events: int, users: str, found: dict[str, Any]) -> list[str]:
        per_user, aggregates = found["per_user"], found["aggregates"]
        return [
            f"{events:,}",
            f"{users} (mean {found['mean_events']:.0f} events)",
            f"{per_user['median_ms']:.2f}",
            f"{per_user['p95_ms']:.2f}",
            f"{aggregates['median_ms']:.1f}",
            f"{aggregates['p95_ms']:.1f}",
            f"{found['speedup']:.1f}x",
        ]

    large = profiles["large_table_events"]
    rows = [
        row(profiles["small_table_events"], "MovieLens", profiles["small"]),
        row(profiles["small_table_events"] + HEAVY_EVENTS, "one heavy user", profiles["heavy"]),
        row(large, "MovieLens, events together", profiles["large_movielens"]),
        row(large, "synthetic, events spread", profiles["large_synthetic"]),
    ]
    worst = max(
        profiles[key]["per_user"]["median_ms"]
        for key in ("small", "large_movielens", "large_synthetic")
    )
    verdict = "meets" if worst < profiles["target_ms"] else "BELOW"
    return [
        f"GetProfile computed (cache misses) through the SDK, in-process server on {backend}, "
        f"{TIMED_USERS} users, one call each",
        *table(["events", "users", "per-user ms", "p95", "aggregates ms", "p95", "speedup"], rows),
        f"  target, a median under {profiles['target_ms']:.0f} ms for every kind of user "
        f"(the heavy one apart): {verdict} (worst median {worst:.2f} ms)",
        f"  the heavy user's cached profile: {profiles['heavy_cached']['median_ms']:.2f} ms "
        "(median)",
    ]
