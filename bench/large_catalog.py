"""Recommend latency on a 100,000-item catalogue: a synthetic one (``bench.quality.data``) loaded
through the SDK into an in-process server with the default settings, trained, then one
request at a time for users it knows, so the figures are the server's own work per request."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from infogap.client import Client
from infogap.server.assembly import build_server
from infogap.server.config import load_settings

from .quality.data import synthetic_catalogue

ITEMS = 100_000
USERS = 20_000
EVENTS = 300_000
REQUESTS = 2_000
WARMUP = 200
COUNT = 10


def benchmark_large_catalog(progress: Callable[[str], None], seed: int = 42) -> dict[str, Any]:
    catalogue = synthetic_catalogue(seed, user_count=USERS, item_count=ITEMS, event_count=EVENTS)
    with tempfile.TemporaryDirectory(prefix="infogap-bench-large-") as data_dir:
        settings = load_settings(data_dir=Path(data_dir), host="127.0.0.1", port=0)
        with build_server(settings) as server, Client(server.address, timeout=600) as client:
            progress(f"large catalogue: loading {ITEMS:,} items and {EVENTS:,} events")
            client.upsert_users(catalogue.user_entities())
            client.upsert_items(catalogue.item_entities())
            client.stream_events(catalogue.event_batches())
            progress("large catalogue: training")
            trained = client.train()
            users = np.unique(catalogue.event_user)
            picked = np.random.default_rng(seed).choice(users, WARMUP + REQUESTS)
            timings, strategies = [], Counter()
            progress(f"large catalogue: {REQUESTS:,} Recommend calls, one at a time")
            for n, user in enumerate(picked.tolist()):
                started = time.perf_counter()
                response = client.recommend(catalogue.user_id(user), count=COUNT)
                if n >= WARMUP:
                    timings.append(1000 * (time.perf_counter() - started))
                    strategies[response.strategy] += 1
    quantiles = statistics.quantiles(timings, n=100)
    return {
        "items": ITEMS,
        "users": USERS,
        "events": EVENTS,
        "train_seconds": trained.total_seconds,
        "skipped": [part for part in trained.decision.reason.split("; ") if "skipped" in part],
        "p50_ms": statistics.median(timings),
        "p99_ms": quantiles[98],
        "requests": len(timings),
        "strategies": dict(strategies),
    }


def report_lines(figures: dict[str, Any]) -> list[str]:
    served = ", ".join(f"{s} {n:,}" for s, n in sorted(figures["strategies"].items()))
    return [
        f"Recommend on a {figures['items']:,}-item catalogue ({figures['users']:,} users, "
        f"{figures['events']:,} events; Train {figures['train_seconds']:.0f} s), "
        f"{figures['requests']:,} calls one at a time:",
        f"  p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms; served by {served}",
        *(f"  {note}" for note in figures["skipped"]),
    ]
