"""Coordination between servers sharing one PostgreSQL database: the training lock (a session
advisory lock), the replica feed of committed events (by writing transaction id) and the
change notifications (LISTEN on the ``records.CHANGE_CHANNELS``).

The feed waits for the oldest transaction still open anywhere on the PostgreSQL server (any
database): while one stays open, what committed after it started is held back, never lost.
So the store leaves no transaction open between calls (its ADBC reads end theirs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pyarrow as pa

from infogap.server.core.store.postgresql.connection import (
    SESSION_OPTIONS,
    PostgreSQLConnection,
    unreachable_as_unavailable,
)
from infogap.server.core.store.records import CHANGE_CHANNELS, EVENT_SCHEMA

_log = logging.getLogger(__name__)

_TRY_TRAINING_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('infogap.training:' || %s, 0))"
# The xid8 snapshot rule: every transaction below the snapshot's xmin has ended (committed or
# aborted) and what the committed ones wrote is visible now; the ones at or above it may still
# commit later. So the rows with ``previous xmin <= tx < xmin`` are exactly those committed
# since the previous call, whatever the order transactions started and committed in. One
# statement: the rows and the new watermark come from the same snapshot.
_CURRENT_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_COMMITTED_SINCE = f"""
    WITH snapshot AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
    SELECT (s.xmin::text)::bigint AS watermark, {", ".join(f"e.{c}" for c in EVENT_SCHEMA.names)}
    FROM snapshot s LEFT JOIN events e
      ON e.tx >= ($1::text)::xid8 AND e.tx < s.xmin
"""
# How long the listener waits for a notification before looking whether it should stop, and
# before connecting again after losing its connection.
_POLL_SECONDS = 0.5
_RECONNECT_SECONDS = 1.0


class Coordination(PostgreSQLConnection):
    def __init__(self, url: str, data_dir: Path) -> None:
        super().__init__(url, data_dir)
        self._listeners: list[Callable[[str, str], None]] = []
        self._listening = threading.Event()
        self._stop_listening = threading.Event()
        self._listener_thread: threading.Thread | None = None
        self._listeners_lock = threading.Lock()

    @contextmanager
    def try_training_lock(self, catalog: str) -> Iterator[bool]:
        # A connection of its own, held for the block: the lock is the session's, and closing
        # the connection releases it even if the unlock is never reached.
        with unreachable_as_unavailable():
            db = psycopg.connect(self._url, autocommit=True, options=SESSION_OPTIONS)
        with db:
            with unreachable_as_unavailable():
                row = db.execute(_TRY_TRAINING_LOCK, [catalog]).fetchone()
            yield bool(row and row[0])

    def events_committed_after(self, watermark: int | None) -> tuple[pa.Table, int]:
        if watermark is None:
            row = self._rows(_CURRENT_XMIN)[0]
            return EVENT_SCHEMA.empty_table(), int(row[0])
        found = self._arrow(_COMMITTED_SINCE, [str(watermark)])
        new_watermark = int(found.column("watermark")[0].as_py())
        rows = found.filter(found.column("event_id").is_valid())
        return rows.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA), new_watermark

    def watch_changes(self, listener: Callable[[str, str], None]) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)
            if self._listener_thread is None:
                self._listener_thread = threading.Thread(
                    target=self._listen, name="infogap-store-listener", daemon=True
                )
                self._listener_thread.start()
        # Changes made once this returns are heard.
        self._listening.wait(timeout=10)

    def _listen(self) -> None:
        """The listener thread: LISTEN on every channel, tell each notification to the
        listeners, connect again after a lost connection, until ``close()``."""
        while not self._stop_listening.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, options=SESSION_OPTIONS) as db:
                    for channel in CHANGE_CHANNELS:
                        db.execute(f"LISTEN {channel}")  # constant names, never input
                    self._listening.set()
                    while not self._stop_listening.is_set():
                        for note in db.notifies(timeout=_POLL_SECONDS):
                            self._tell(note.channel, note.payload)
            except psycopg.OperationalError:
                _log.warning("lost the connection listening for changes; connecting again")
                self._stop_listening.wait(_RECONNECT_SECONDS)

    def _tell(self, channel: str, payload: str) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(channel, payload)
            except Exception:  # noqa: BLE001 - a failing listener must not stop the others
                _log.exception("a change listener failed on %s", channel)

    def close(self) -> None:
        self._stop_listening.set()
        if self._listener_thread is not None:
            self._listener_thread.join(timeout=5)
        super().close()
