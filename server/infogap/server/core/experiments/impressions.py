"""The impression log: which list each variant served to whom, written to the store in the
background so the request path only appends to a buffer."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import pyarrow as pa

from infogap.server.core.domain import Recommendation
from infogap.server.core.store import IMPRESSION_SCHEMA, Store

log = logging.getLogger(__name__)


class ImpressionLog:
    """Writes the lists served inside experiments to the store from its own thread, at least
    every ``flush_seconds``. A crash loses at most the last flush interval."""

    def __init__(self, store: Store, flush_seconds: float) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        # deque's append and popleft are atomic: request threads never wait on a lock here.
        self._buffer: deque[tuple[object, ...]] = deque()
        self._flush_lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="infogap-impression-log", daemon=True
        )
        self._thread.start()

    def log(self, recommendation: Recommendation, user_id: str, catalog: str) -> None:
        """Buffers a served (labelled) recommendation; the thread writes it out."""
        row = (
            recommendation.recommendation_id,
            recommendation.experiment,
            recommendation.variant,
            user_id,
            catalog,
            [item.item_id for item in recommendation.items],
            time.time_ns() // 1000,  # UTC microseconds, what the served_at column takes
        )
        self._buffer.append(row)

    def flush(self) -> None:
        """Writes everything logged so far; on return it is in the store."""
        with self._flush_lock:
            rows = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if rows:
                columns = list(zip(*rows))
                self._store.insert_impressions(
                    pa.table(
                        [pa.array(c, type=f.type) for c, f in zip(columns, IMPRESSION_SCHEMA)],
                        schema=IMPRESSION_SCHEMA,
                    )
                )

    def close(self) -> None:
        """Stops the thread and writes what is left."""
        self._closing.set()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._closing.wait(self._flush_seconds):
            try:
                self.flush()
            except Exception:  # the next flush retries; serving must not stop for it
                log.exception("writing impressions failed")
