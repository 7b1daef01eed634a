"""The event writer on a real DuckDB file: group commits, and events stored by other replicas
of a shared store taken in without this replica's own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from infogap.server.core.domain import EventBatch
from infogap.server.core.feedback.ingest import EventWriter, to_arrow
from infogap.server.core.store import DuckDBStore


def batch(*ids: str) -> pa.Table:
    n = len(ids)
    return to_arrow(
        EventBatch(
            event_ids=list(ids),
            user_ids=["u"] * n,
            item_ids=[f"item-{i}" for i in ids],
            catalogs=["default"] * n,
            types=["view"] * n,
            values=[0.0] * n,
            times_us=[None] * n,
            recommendation_ids=[""] * n,
            contexts=[{}] * n,
        ),
        datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_foreign_events_reach_the_listeners_without_this_writers_own(tmp_path: Path):
    heard: list[tuple[list[str], int]] = []
    store = DuckDBStore(tmp_path)
    writer = EventWriter(
        store, lambda events, seq: heard.append((events.column("event_id").to_pylist(), seq))
    )
    try:
        writer.track_own_events()
        assert writer.write(batch("a", "b")).stored_count == 2
        # The shared store's feed holds every replica's commits: this one's "a" and "b" too.
        assert writer.take_in_foreign(pa.concat_tables([batch("a", "x"), batch("b", "y")])) == 2
        assert writer.take_in_foreign(batch("a")) == 1  # met once already: "a" is not own now
        assert writer.take_in_foreign(batch()) == 0
    finally:
        writer.close()
        store.close()
    assert heard == [(["a", "b"], 1), (["x", "y"], 2), (["a"], 3)]
    assert writer.committed_sequence == 3


def test_without_tracking_every_event_taken_in_is_foreign(tmp_path: Path):
    heard: list[list[str]] = []
    store = DuckDBStore(tmp_path)
    writer = EventWriter(
        store, lambda events, _: heard.append(events.column("event_id").to_pylist())
    )
    try:
        writer.write(batch("a"))
        writer.take_in_foreign(batch("a"))
    finally:
        writer.close()
        store.close()
    assert heard == [["a"], ["a"]]
