"""The DuckDB database file of one data directory, and how every part of the store uses it.

Reads run on per-thread cursors so they proceed in parallel; writes are serialised by one lock
(events go through ``feedback.ingest.EventWriter``, which groups concurrent batches into shared
commits).

Reads fetch their whole result (``fetchall``, never ``fetchone``): a result left unfinished on
a thread's cursor makes DuckDB refuse the next ``register`` on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from infogap.server.core.store.duckdb.cluster_cache import ClusterMembershipCache
from infogap.server.core.store.migrations import migrate
from infogap.server.core.store.user_facts import ItemFeatureCache

DATABASE_FILE = "infogap.duckdb"


class DuckDBConnection:
    """Owns the database file; the base of every part of ``DuckDBStore``."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir
        self._db = duckdb.connect(str(data_dir / DATABASE_FILE))
        migrate(self._db)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self.write_lock = threading.Lock()
        # Items' tags and attributes for GetProfile's per-user path; forgotten on upsert.
        self.item_features = ItemFeatureCache()
        # Users' clusters for the same path; forgotten when the memberships are written.
        self.cluster_membership = ClusterMembershipCache()

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database (DuckDB connections are not shared).
        DuckDB-specific: for tests and tools that inspect the file, never for the core."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._db.cursor()
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    def close(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT on this thread's cursor, ROLLBACK if the block raises."""
        db = self.cursor()
        db.execute("BEGIN TRANSACTION")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction, holding the write lock."""
        with self.write_lock, self._transaction() as db:
            yield db


@contextmanager
def registered(
    db: duckdb.DuckDBPyConnection, name: str, table: pa.Table
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``table`` readable as ``name`` in SQL on ``db`` for the block."""
    db.register(name, table)
    try:
        yield db
    finally:
        db.unregister(name)
