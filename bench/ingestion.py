"""RecordEvents ingestion: durable events/s for single events and batches of 500, against raw
DuckDB inserts of the same rows measured in this process.

Each case gets a fresh server on a fresh data directory, so every case starts from an empty
events table, as the baseline does. The server acknowledges a call only after the DuckDB commit
that holds its events, and groups concurrent calls into shared commits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from infogap.server.core.domain import DEFAULT_CATALOG
from infogap.server.core.store import EVENT_SCHEMA
from infogap.server.core.store.migrations import migrate

from . import workload
from .load import run_load_generator
from .servers import infogap_server


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


@dataclass(frozen=True)
class Baseline:
    """Raw DuckDB inserts of a case's own rows, in its order, ``rows_per_commit`` per commit."""

    case: IngestCase
    rows_per_commit: int
    rows_per_round: int  # the first rows of each round: single-row commits are slow

    @property
    def name(self) -> str:
        return f"raw DuckDB, {self.rows_per_commit} per commit"


# Each case is compared with the baseline that commits as many rows as one of its calls sends.
BASELINES = (
    Baseline(CASES[0], rows_per_commit=1, rows_per_round=500),
    Baseline(CASES[-1], rows_per_commit=500, rows_per_round=CASES[-1].calls * 500),
)


def benchmark_case(case: IngestCase, dataset: Path, work_dir: Path, rounds: int) -> dict[str, Any]:
    data_dir = work_dir / f"ingest-data-{case.batch_size}x{case.concurrency}"
    with infogap_server(data_dir, work_dir) as address:
        result = run_load_generator(
            "record",
            "--target",
            f"infogap={address}",
            "--dataset",
            str(dataset),
            "--batch-size",
            str(case.batch_size),
            "--concurrency",
            str(case.concurrency),
            "--requests",
            str(case.calls),
            "--warmup",
            str(case.warmup_calls),
            "--rounds",
            str(rounds),
            "--seed",
            str(case.seed),
        )
    return {**asdict(case), **result}


# -- the raw DuckDB baseline -------------------------------------------------------------------


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


def _insert_in_commits(db: duckdb.DuckDBPyConnection, rows: pa.Table, per_commit: int) -> float:
    """Plain INSERTs of ``rows``, one committed transaction per slice; returns the seconds."""
    started = time.perf_counter()
    for start in range(0, rows.num_rows, per_commit):
        db.register("event_batch", rows.slice(start, per_commit))
        db.execute("BEGIN TRANSACTION")
        db.execute("INSERT INTO events SELECT * FROM event_batch")
        db.execute("COMMIT")
        db.unregister("event_batch")
    return time.perf_counter() - started


def raw_duckdb_baseline(
    baseline: Baseline, dataset: Path, work_dir: Path, rounds: int
) -> dict[str, Any]:
    """Inserts the rows of ``baseline.case`` (warm-up round first, untimed) into a fresh file."""
    users, items = workload.user_ids(dataset), workload.item_ids(dataset)
    case = baseline.case
    tables = [
        as_stored_rows(
            workload.round_events(case.seed, i, calls * case.batch_size, users, items)
        ).slice(0, baseline.rows_per_round)
        for i, calls in enumerate(workload.round_sizes(case.warmup_calls, case.calls, rounds))
    ]
    per_commit = baseline.rows_per_commit
    with duckdb.connect(str(work_dir / f"baseline-{per_commit}.duckdb")) as db:
        migrate(db)  # the very schema InfoGap stores events in
        _insert_in_commits(db, tables[0], per_commit)
        rates = [t.num_rows / _insert_in_commits(db, t, per_commit) for t in tables[1:]]
    return {
        "name": baseline.name,
        "rows_per_commit": per_commit,
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
    baselines = []
    for baseline in BASELINES:
        progress(f"{baseline.name}: {rounds} rounds of {baseline.rows_per_round:,} rows")
        baselines.append(raw_duckdb_baseline(baseline, dataset, work_dir, rounds))
    by_commit_size = {b["rows_per_commit"]: b for b in baselines}
    for result in cases:
        baseline = by_commit_size[result["batch_size"]]
        result["baseline"] = baseline["name"]
        result["ratio_to_baseline"] = (
            result["median"]["units_per_second"] / baseline["events_per_second"]
        )
    return {"cases": cases, "raw_duckdb": baselines}
