"""Coordination between servers, on a file that one process owns: the training lock is a lock of
this process, and there is no other writer whose events or changes could be told."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from infogap.server.core.store.duckdb.connection import DuckDBConnection
from infogap.server.core.store.records import EVENT_SCHEMA


class Coordination(DuckDBConnection):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._training_locks: dict[str, threading.Lock] = {}
        self._training_locks_lock = threading.Lock()

    @contextmanager
    def try_training_lock(self, catalog: str) -> Iterator[bool]:
        with self._training_locks_lock:
            lock = self._training_locks.setdefault(catalog, threading.Lock())
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()

    def events_committed_after(self, watermark: int | None) -> tuple[pa.Table, int]:
        # DuckDB lets one process open the file: every event was stored by this server itself.
        return EVENT_SCHEMA.empty_table(), 0 if watermark is None else watermark

    def watch_changes(self, listener: Callable[[str, str], None]) -> None:
        # Nothing changes the file but this server, which knows its own changes.
        return None
