"""Replicas on PostgreSQL, on MovieLens 100K: ingestion against raw COPY of the same rows,
Recommend through one replica and through two (client-side round robin), the time from an
event on replica A to its effect on replica B, and from Train on A to B serving the version.

The PostgreSQL server is the tests' throwaway cluster (``tests/postgres.py``): fsync and
synchronous commit off. The ingestion ratio compares InfoGap with COPY on that same server, so
both gain alike; a production server with fsync on is slower for both.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from pyarrow import csv

from infogap.client import Client, NotFoundError
from infogap.server.core.store import PostgreSQLStore

from . import workload
from .ingestion import as_stored_rows
from .load import run_load_generator
from .servers import GRPC_WORKERS, HOST, server_process
from .serving import load_movielens

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.postgres import PostgresServer, postgres_bin_dir

INGEST_BATCH = 500
INGEST_CALLS = 200
INGEST_CONCURRENCY = 8
RECOMMEND_CONCURRENCY = 16
EVENT_TRIALS = 20
MODEL_TRIALS = 3
POLL_SECONDS = 0.005


@contextlib.contextmanager
def replica(name: str, store_url: str, artifacts: Path, work_dir: Path) -> Iterator[str]:
    """``infogap serve`` on the shared store and artifact folder, with a data dir of its own."""
    command = [sys.executable, "-m", "infogap.server", "serve", "--data-dir"]
    command += [str(work_dir / name), "--store", store_url, "--host", HOST, "--port", "{port}"]
    env = {"INFOGAP_MAX_WORKERS": str(GRPC_WORKERS), "INFOGAP_ARTIFACTS__URL": artifacts.as_uri()}
    with server_process(f"replica-{name}", command, work_dir, env=env) as address:
        yield address


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database on a throwaway PostgreSQL server for the block; None without
    PostgreSQL's binaries."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        yield None
        return
    postgres = PostgresServer(bin_dir).start()
    try:
        yield postgres.fresh_database()
    finally:
        postgres.stop()


def benchmark_replicas(
    dataset: Path, work_dir: Path, rounds: int, requests: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        return {"skipped": "no PostgreSQL binaries (initdb, pg_ctl) on this machine"}
    postgres = PostgresServer(bin_dir).start()
    try:
        results = {"ingestion": _ingestion(postgres, dataset, work_dir, rounds, progress)}
        store_url = postgres.fresh_database()
        artifacts = work_dir / "artifacts"
        artifacts.mkdir()
        with (
            replica("a", store_url, artifacts, work_dir) as a,
            replica("b", store_url, artifacts, work_dir) as b,
        ):
            progress("replicas: loading MovieLens 100K through A")
            load_movielens(a, dataset)
            progress(f"replicas: Train on A until B serves it, {MODEL_TRIALS} times")
            results["train_to_other_replica"] = _model_propagation(a, b)
            progress(f"replicas: an event on A until B excludes it, {EVENT_TRIALS} times")
            results["event_to_other_replica"] = _event_propagation(a, b, dataset)
            progress("replicas: Recommend through one replica and through two")
            results["recommend"] = _recommend(a, b, dataset, rounds, requests)
    finally:
        postgres.stop()
    return results


def _ingestion(
    postgres: PostgresServer,
    dataset: Path,
    work_dir: Path,
    rounds: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    progress(f"replicas: RecordEvents into PostgreSQL, {rounds} rounds, then raw COPY")
    store_url = postgres.fresh_database()
    with replica("ingest", store_url, work_dir / "ingest-artifacts", work_dir) as address:
        infogap = run_load_generator(
            "record",
            "--target",
            f"infogap={address}",
            "--dataset",
            str(dataset),
            "--batch-size",
            str(INGEST_BATCH),
            "--concurrency",
            str(INGEST_CONCURRENCY),
            "--requests",
            str(INGEST_CALLS),
            "--rounds",
            str(rounds),
            "--warmup",
            "10",
            "--seed",
            "11",
        )
    plain = _raw_copy(postgres.fresh_database(), dataset, rounds, PLAIN_EVENTS_TABLE)
    # InfoGap's own events table: its partitions' parent, its indexes and transaction ids.
    schema_url = postgres.fresh_database()
    PostgreSQLStore(schema_url, work_dir / "schema-only").close()
    own = _raw_copy(schema_url, dataset, rounds, None)
    ours = infogap["median"]["units_per_second"]
    return {
        "infogap_events_per_second": ours,
        "copy_rows_per_second": plain,
        "copy_into_infogap_table_rows_per_second": own,
        "ratio": ours / plain,
        "ratio_to_own_table": ours / own,
        "events_not_stored": infogap["events_not_stored"],
        "batch_size": INGEST_BATCH,
        "concurrency": INGEST_CONCURRENCY,
    }


PLAIN_EVENTS_TABLE = (
    "CREATE TABLE events (event_id text PRIMARY KEY, user_id text, item_id text, "
    "catalog text, type text, value double precision, event_time timestamp, "
    "recommendation_id text, context text, received_at timestamp)"
)


def _raw_copy(url: str, dataset: Path, rounds: int, create: str | None) -> float:
    """Rows/s of COPY of the benchmark's rows into ``events`` (made by ``create``, or already
    there), one commit per round's 100,000 rows (median of the rounds)."""
    users, items = workload.user_ids(dataset), workload.item_ids(dataset)
    rates = []
    with psycopg.connect(url) as db:
        if create is not None:
            db.execute(create)
        for index in range(rounds):
            # The rows as CSV before the clock starts: the baseline times the database alone.
            rows = as_stored_rows(
                workload.round_events(12, index, INGEST_CALLS * INGEST_BATCH, users, items)
            )
            buffer = io.BytesIO()
            csv.write_csv(rows, buffer)
            columns = ", ".join(rows.schema.names)
            started = time.perf_counter()
            copy_sql = f"COPY events ({columns}) FROM STDIN WITH (FORMAT csv, HEADER)"
            with db.cursor().copy(copy_sql) as copy:
                copy.write(buffer.getvalue())
            db.commit()
            rates.append(rows.num_rows / (time.perf_counter() - started))
    return statistics.median(rates)


def _model_propagation(a: str, b: str) -> dict[str, Any]:
    delays = []
    with Client(a, timeout=600) as client_a, Client(b, timeout=30) as client_b:
        for _ in range(MODEL_TRIALS):
            version = client_a.train().models[0].version
            trained = time.perf_counter()
            while not _serves(client_b, version):
                time.sleep(POLL_SECONDS)
            delays.append(time.perf_counter() - trained)
    return {"median_seconds": statistics.median(delays), "seconds": delays}


def _serves(client: Client, version: str) -> bool:
    try:
        return any(model.version == version for model in client.model_info().models)
    except NotFoundError:  # nothing trained yet
        return False


def _event_propagation(a: str, b: str, dataset: Path) -> dict[str, Any]:
    delays = []
    users = workload.user_ids(dataset)[:EVENT_TRIALS]
    with Client(a, timeout=30) as client_a, Client(b, timeout=30) as client_b:
        for user_id in users:
            top = client_b.recommend(user_id, count=10).items[0].item_id
            client_a.record([{"user_id": user_id, "item_id": top, "type": "purchase"}])
            recorded = time.perf_counter()
            while top in {i.item_id for i in client_b.recommend(user_id, count=10).items}:
                time.sleep(POLL_SECONDS)
            delays.append(time.perf_counter() - recorded)
    ordered = sorted(delays)
    return {
        "median_seconds": statistics.median(delays),
        "p95_seconds": ordered[int(0.95 * (len(ordered) - 1))],
        "max_seconds": ordered[-1],
    }


def _recommend(a: str, b: str, dataset: Path, rounds: int, requests: int) -> dict[str, Any]:
    """The same load through A alone and through A and B balanced round robin by the client
    (a comma-separated target: see bench/load.py)."""
    recommend = run_load_generator(
        "recommend",
        "--target",
        f"one={a}",
        "--target",
        f"two={a},{b}",
        "--dataset",
        str(dataset),
        "--concurrency",
        str(RECOMMEND_CONCURRENCY),
        "--requests",
        str(requests),
        "--rounds",
        str(rounds),
        "--warmup",
        str(min(requests, 500)),
    )
    ratios = [
        two["calls_per_second"] / one["calls_per_second"]
        for one, two in zip(recommend["one"]["rounds"], recommend["two"]["rounds"])
    ]
    return {**recommend, "two_over_one": statistics.median(ratios)}


def report_lines(replicas: dict[str, Any]) -> list[str]:
    if "skipped" in replicas:
        return [f"Replicas on PostgreSQL: skipped ({replicas['skipped']})"]
    ingestion, recommend = replicas["ingestion"], replicas["recommend"]
    one, two = recommend["one"]["median"], recommend["two"]["median"]
    event, model = replicas["event_to_other_replica"], replicas["train_to_other_replica"]
    return [
        "Replicas on PostgreSQL (MovieLens 100K; two `infogap serve` on one database)",
        f"  RecordEvents into PostgreSQL, batches of {ingestion['batch_size']}, "
        f"{ingestion['concurrency']} in flight: {ingestion['infogap_events_per_second']:,.0f} "
        f"events/s; raw COPY of the same rows into a plain table: "
        f"{ingestion['copy_rows_per_second']:,.0f} rows/s ({ingestion['ratio']:.2f}x), into "
        f"InfoGap's events table: {ingestion['copy_into_infogap_table_rows_per_second']:,.0f} "
        f"rows/s ({ingestion['ratio_to_own_table']:.2f}x)",
        f"  Recommend, one replica: {one['calls_per_second']:,.0f}/s (p50 {one['p50_ms']:.1f} ms, "
        f"p99 {one['p99_ms']:.1f} ms); two, round robin: {two['calls_per_second']:,.0f}/s "
        f"(p50 {two['p50_ms']:.1f} ms, p99 {two['p99_ms']:.1f} ms): "
        f"{recommend['two_over_one']:.2f}x (target on 2 cores: no loss)",
        f"  an event on A excluded by B after: median {event['median_seconds'] * 1000:.0f} ms, "
        f"p95 {event['p95_seconds'] * 1000:.0f} ms, max {event['max_seconds'] * 1000:.0f} ms "
        "(target: within 1 s)",
        f"  Train on A until B serves the version: median {model['median_seconds']:.2f} s "
        f"({', '.join(f'{s:.2f}' for s in model['seconds'])})",
    ]
