"""GetProfile latency for a user with 10,000 events: computed (cache miss) and cached, against a
typical MovieLens user's computed profile measured in the same run; then the typical user's
computed profile again once synthetic users have grown the events table to 1,000,000.

The server runs in this process: the figures are milliseconds per call through the SDK, and a
cache miss is forced by asking for a profile "as of" a moment not asked for before.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infogap.client import Client
from infogap.server.assembly import build_server
from infogap.server.cli.client_commands import send_events, send_items
from infogap.server.config import load_settings
from infogap.server.datasets import movielens

HEAVY_USER = "heavy-user"
HEAVY_EVENTS = 10_000
TYPICAL_USER = "1"  # 272 MovieLens ratings
CALLS = 50
LARGE_TABLE_EVENTS = 1_000_000
SYNTHETIC_USERS = 20_000  # about 45 events each, spread over MovieLens's months
SYNTHETIC_BATCH = 1_000


def _latencies_ms(call: Callable[[int], Any], calls: int) -> dict[str, float]:
    timings = []
    for n in range(calls):
        started = time.perf_counter()
        call(n)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "median_ms": statistics.median(timings),
        "p99_ms": timings[int(0.99 * (len(timings) - 1))],
    }


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


def benchmark_profiles(dataset: Path, work_dir: Path, progress: Callable[[str], None]) -> dict:
    settings = load_settings(data_dir=work_dir / "profiles", host="127.0.0.1", port=0)
    server = build_server(settings).start()
    try:
        target = server.address
        progress("profiles: loading MovieLens and a user with 10,000 events")
        with Client(target) as loader:
            send_items(loader, dataset / movielens.ITEMS_FILE, movielens.items(dataset))
            send_events(loader, dataset / movielens.EVENTS_FILE, movielens.events(dataset))
        rng = random.Random(7)
        start = datetime(1998, 1, 1, tzinfo=UTC)
        heavy = [
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
        with Client(target, timeout=60) as client:
            client.record(heavy)
            now = datetime(1998, 6, 1)

            # Each "as of" moment is new, so every call computes the profile from DuckDB; the
            # second timing of a user starts an hour earlier, clear of the first one's moments.
            def computed(user: str, hours_earlier: int = 0) -> Callable[[int], Any]:
                base = now - timedelta(hours=hours_earlier)
                return lambda n: client.profile(user, as_of=base - timedelta(seconds=n))

            progress("profiles: timing GetProfile")
            client.profile(HEAVY_USER)  # warm-up, and fills the cache for the cached figure
            results: dict[str, Any] = {
                "heavy_user_events": client.profile(HEAVY_USER).behaviour.event_count,
                "heavy_computed": _latencies_ms(computed(HEAVY_USER), CALLS),
                "heavy_cached": _latencies_ms(lambda n: client.profile(HEAVY_USER), CALLS),
                "typical_computed": _latencies_ms(computed(TYPICAL_USER), CALLS),
            }
            stored = 100_000 + HEAVY_EVENTS
            progress(f"profiles: growing the events table to {LARGE_TABLE_EVENTS:,} events")
            client.stream_events(_synthetic_batches(LARGE_TABLE_EVENTS - stored))
            progress("profiles: timing GetProfile again")
            client.profile(TYPICAL_USER)  # warm-up after the load
            results["large_table_events"] = LARGE_TABLE_EVENTS
            results["typical_computed_large"] = _latencies_ms(computed(TYPICAL_USER, 1), CALLS)
    finally:
        server.stop(grace=0)
    results["heavy_vs_typical"] = (
        results["heavy_computed"]["median_ms"] / results["typical_computed"]["median_ms"]
    )
    results["large_vs_small"] = (
        results["typical_computed_large"]["median_ms"] / results["typical_computed"]["median_ms"]
    )
    return results
