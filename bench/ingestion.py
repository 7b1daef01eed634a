"""RecordEvents ingestion: durable events/s for single events and batches of 500, against raw
DuckDB inserts of the same rows measured in this process.

Each case gets a fresh server on a fresh data directory, so every case starts from an empty
events table, as the baseline does. The server acknowledges a call only after the DuckDB commit
that holds its events, and groups concurrent calls into shared commits.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa

from infogap.server.core.domain import DEFAULT_CATALOG
from infogap.server.core.store import EVENT_SCHEMA

from . import workload
from .load import run_load_generator
from .servers import infogap_server

BASELINE_ROWS_PER_COMMIT = 500


@dataclass(frozen=True)
class IngestCase:
    batch_size: int  # events per RecordEvents call
    concurrency: int  # calls in flight
    calls: int  # per round
    warmup_calls: int
    seed: int  # distinct per case: no event id is sent twice

    @property
    def name(self) -> str:
        return f"batch {self.batch_size}, {self.concurrency} in flight"


CASES = (
    IngestCase(batch_size=1, concurrency=16, calls=2_000, warmup_calls=200, seed=1),
    IngestCase(batch_size=500, concurrency=1, calls=200, warmup_calls=10, seed=2),
    IngestCase(batch_size=500, concurrency=4, calls=200, warmup_calls=10, seed=3),
    IngestCase(batch_size=500, concurrency=8, calls=200, warmup_calls=10, seed=4),
)
# The baseline stores the very rows of this case, in the same order.
BASELINE_CASE = CASES[-1]


def benchmark_case(
    case: IngestCase, dataset: Path, work_dir: Path, rounds: int
) -> dict[str, Any]:
    data_dir = work_dir / f"ingest-data-{case.batch_size}x{case.concurrency}"
    with infogap_server(data_dir, work_dir) as address:
        result = run_load_generator(
            "record",
            "--target", f"infogap={address}",
            "--dataset", str(dataset),
            "--batch-size", str(case.batch_size),
            "--concurrency", str(case.concurrency),
            "--requests", str(case.calls),
            "--warmup", str(case.warmup_calls),
            "--rounds", str(rounds),
            "--seed", str(case.seed),
        )
    return {**asdict(case), **result}


# -- the raw DuckDB baseline -------------------------------------------------------------------

_CREATE_EVENTS = """
CREATE TABLE events (
    event_id           VARCHAR PRIMARY KEY,
    user_id            VARCHAR NOT NULL,
    item_id            VARCHAR NOT NULL,
    catalog            VARCHAR NOT NULL,
    type               VARCHAR NOT NULL,
    value              DOUBLE NOT NULL,
    event_time         TIMESTAMP NOT NULL,
    recommendation_id  VARCHAR NOT NULL,
    context            JSON NOT NULL,
    received_at        TIMESTAMP NOT NULL
)
"""


def as_stored_rows(events: workload.SyntheticEvents) -> pa.Table:
    """The rows InfoGap stores for these events (``EVENT_SCHEMA``)."""
    count = len(events)
    microseconds = pa.timestamp("us")
    return pa.table(
        {
            "event_id": events.event_ids,
            "user_id": events.user_ids,
            "item_id": events.item_ids,
            "catalog": [DEFAULT_CATALOG] * count,
            "type": events.types,
            "value": events.values,
            "event_time": pa.array(events.times, pa.timestamp("s")).cast(microseconds),
            "recommendation_id": [""] * count,
            "context": ["{}"] * count,
            "received_at": pa.array([time.time_ns() // 1000] * count, microseconds),
        },
        schema=EVENT_SCHEMA,
    )


def _insert_in_commits(db: duckdb.DuckDBPyConnection, rows: pa.Table) -> float:
    """Plain INSERTs of ``rows``, one committed transaction per slice; returns the seconds."""
    started = time.perf_counter()
    for start in range(0, rows.num_rows, BASELINE_ROWS_PER_COMMIT):
        db.register("event_batch", rows.slice(start, BASELINE_ROWS_PER_COMMIT))
        db.execute("BEGIN TRANSACTION")
        db.execute("INSERT INTO events SELECT * FROM event_batch")
        db.execute("COMMIT")
        db.unregister("event_batch")
    return time.perf_counter() - started


def raw_duckdb_baseline(dataset: Path, work_dir: Path, rounds: int) -> dict[str, Any]:
    """Inserts the rows of ``BASELINE_CASE`` (warm-up first, untimed) into a fresh DuckDB file."""
    users, items = workload.user_ids(dataset), workload.item_ids(dataset)
    case = BASELINE_CASE
    calls = [case.warmup_calls] + [case.calls] * rounds
    tables = [
        as_stored_rows(workload.round_events(case.seed, i, n * case.batch_size, users, items))
        for i, n in enumerate(calls)
    ]
    with duckdb.connect(str(work_dir / "baseline.duckdb")) as db:
        db.execute(_CREATE_EVENTS)
        _insert_in_commits(db, tables[0])
        rates = [table.num_rows / _insert_in_commits(db, table) for table in tables[1:]]
    return {
        "rows_per_commit": BASELINE_ROWS_PER_COMMIT,
        "events_per_second": statistics.median(rates),
        "rounds_events_per_second": rates,
    }


def benchmark_ingestion(
    dataset: Path, work_dir: Path, rounds: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    cases = []
    for case in CASES:
        progress(f"RecordEvents, {case.name}: {rounds} rounds of {case.calls:,} calls")
        cases.append(benchmark_case(case, dataset, work_dir, rounds))
    progress(f"raw DuckDB inserts, {BASELINE_ROWS_PER_COMMIT} rows per commit")
    baseline = raw_duckdb_baseline(dataset, work_dir, rounds)
    for result in cases:
        result["ratio_to_raw_duckdb"] = (
            result["median"]["units_per_second"] / baseline["events_per_second"]
        )
    return {"cases": cases, "raw_duckdb": baseline}
