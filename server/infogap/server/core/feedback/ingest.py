"""Durable, idempotent event ingestion with group commit.

Every ``RecordEvents`` call hands its batch to one writer thread and waits. The writer takes
everything queued since its last commit and stores it in a single DuckDB transaction, so
concurrent callers share the cost of a commit; a call returns only after the commit that holds
its events, so an acknowledged event survives a crash.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from infogap.server.core.domain import EventBatch, RecordResult
from infogap.server.core.errors import Unavailable
from infogap.server.core.metrics import CoreMetrics
from infogap.server.core.store import EVENT_SCHEMA, Store

log = logging.getLogger(__name__)

# Listener called after each commit with the newly stored events and the commit's sequence number.
StoredListener = Callable[[pa.Table, int], None]


def to_arrow(batch: EventBatch, received_at: datetime) -> pa.Table:
    received_us = int(received_at.replace(tzinfo=UTC).timestamp() * 1_000_000)
    # Times go through numpy as datetime64[us]: pyarrow's per-value timestamp path is slow.
    event_times = np.array(
        [received_us if t is None else t for t in batch.times_us], dtype=np.int64
    ).view("datetime64[us]")
    received = np.full(len(batch), received_us, dtype=np.int64).view("datetime64[us]")
    return pa.table(
        {
            "event_id": batch.event_ids,
            "user_id": batch.user_ids,
            "item_id": batch.item_ids,
            "catalog": batch.catalogs,
            "type": batch.types,
            "value": batch.values,
            "event_time": event_times,
            "recommendation_id": batch.recommendation_ids,
            "context": [json.dumps(dict(c)) if c else "{}" for c in batch.contexts],
            "received_at": received,
        },
        schema=EVENT_SCHEMA,
    )


class EventWriter:
    """The single writer of the events table."""

    def __init__(
        self,
        store: Store,
        on_stored: StoredListener,
        max_group_events: int = 50_000,
        metrics: CoreMetrics | None = None,
    ):
        self._store = store
        self._metrics = metrics or CoreMetrics()
        self._on_stored = on_stored
        self._max_group_events = max_group_events
        self._queue: queue.Queue[tuple[pa.Table, Future[RecordResult]] | None] = queue.Queue()
        self._closed = False
        self._close_lock = threading.Lock()
        self.committed_sequence = 0
        """Number of the latest commit; events of commits up to it are visible in the store."""
        # Held from storing a group until its listeners have heard it, and while events stored
        # by other replicas are taken in: the sequence and the own-ids set change together.
        self._commit_lock = threading.Lock()
        self._own_unseen: set[str] | None = None
        self._thread = threading.Thread(target=self._run, name="infogap-event-writer", daemon=True)
        self._thread.start()

    def write(self, batch: pa.Table) -> RecordResult:
        """Stores ``batch`` (``EVENT_SCHEMA``); returns once it is committed."""
        future: Future[RecordResult] = Future()
        with self._close_lock:
            if self._closed:
                raise Unavailable("the server is shutting down")
            self._queue.put((batch, future))
        return future.result()

    @property
    def queue_depth(self) -> int:
        """Batches waiting for the next group commit (approximate, as ``Queue.qsize``)."""
        return self._queue.qsize()

    def track_own_events(self) -> None:
        """Remembers the ids this writer stores until ``take_in_foreign`` meets them: on a
        shared store, the feed of every replica's commits also holds this one's."""
        with self._commit_lock:
            if self._own_unseen is None:
                self._own_unseen = set()

    def take_in_foreign(self, committed: pa.Table) -> int:
        """Hands events committed to the shared store (``EVENT_SCHEMA``) to the listeners,
        those this writer stored left out, as one more commit of the sequence.

        Returns: how many were another replica's.
        """
        with self._commit_lock:
            own = self._own_unseen
            if own is not None and own and committed.num_rows:
                ids = committed.column("event_id").to_pylist()
                foreign = [event_id not in own for event_id in ids]
                own.difference_update(ids)
                committed = committed.filter(pa.array(foreign, pa.bool_()))
            if committed.num_rows == 0:
                return 0
            self.committed_sequence += 1
            self._notify(committed)
            taken: int = committed.num_rows
            return taken

    def _notify(self, stored: pa.Table) -> None:
        try:
            self._on_stored(stored, self.committed_sequence)
        except Exception:  # listeners only refresh caches; the events are safely stored
            log.exception("event listener failed")

    def close(self) -> None:
        """Commits what is queued, then stops the writer thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            size = first[0].num_rows
            stop = False
            while size < self._max_group_events:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                group.append(queued)
                size += queued[0].num_rows
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[pa.Table, Future[RecordResult]]]) -> None:
        combined = pa.concat_tables([batch for batch, _ in group])
        ids = combined.column("event_id").to_pylist()
        unique = combined
        if len(set(ids)) < len(ids):
            # An id repeated within the group is stored once: its first occurrence wins.
            first_seen: set[str] = set()
            keep = []
            for event_id in ids:
                keep.append(event_id not in first_seen)
                first_seen.add(event_id)
            unique = combined.filter(pa.array(keep))
        metrics = self._metrics
        with self._commit_lock:
            started = time.perf_counter()
            try:
                inserted = self._store.insert_events(unique)
            except Exception as error:  # rolled back: nothing of the group is stored
                metrics.group_commit_failures.inc()
                log.exception("storing %d events failed", unique.num_rows)
                for _, future in group:
                    future.set_exception(error)
                return
            metrics.group_commit_seconds.observe(time.perf_counter() - started)
            metrics.group_commit_events.observe(len(ids))
            metrics.events_stored.inc(len(inserted))
            metrics.events_duplicate.inc(len(ids) - len(inserted))
            self.committed_sequence += 1
            if self._own_unseen is not None:
                self._own_unseen.update(inserted)
            if inserted:
                stored = (
                    unique
                    if len(inserted) == unique.num_rows
                    else unique.filter(
                        pa.array(
                            [
                                event_id in inserted
                                for event_id in unique.column("event_id").to_pylist()
                            ]
                        )
                    )
                )
                self._notify(stored)
        if len(inserted) == len(ids):  # the common case: every event was new
            for batch, future in group:
                future.set_result(RecordResult(batch.num_rows, 0))
            return
        claimed: set[str] = set()
        for batch, future in group:
            stored_count = 0
            for event_id in batch.column("event_id").to_pylist():
                if event_id in inserted and event_id not in claimed:
                    claimed.add(event_id)
                    stored_count += 1
            future.set_result(RecordResult(stored_count, batch.num_rows - stored_count))
