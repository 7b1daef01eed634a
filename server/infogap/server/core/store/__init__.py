"""Where InfoGap keeps its state: users, items, events, model records, segments, experiments and
the privacy ledger.

``Store`` is the interface the core depends on (``interface.py``); ``DuckDBStore`` is its
implementation on an embedded DuckDB file (``duckdb/``), opened with ``DuckDBStore(data_dir)``.
Import both from here, not from the modules of one backend.
"""

from infogap.server.core.store.duckdb import DATABASE_FILE, DuckDBStore
from infogap.server.core.store.interface import Store
from infogap.server.core.store.records import (
    EVENT_SCHEMA,
    IMPRESSION_SCHEMA,
    CatalogItems,
    EventTypeActivity,
    Interactions,
    PrivacyRelease,
    ReleasedValues,
    UserFacts,
)

__all__ = [
    "DATABASE_FILE",
    "EVENT_SCHEMA",
    "IMPRESSION_SCHEMA",
    "CatalogItems",
    "DuckDBStore",
    "EventTypeActivity",
    "Interactions",
    "PrivacyRelease",
    "ReleasedValues",
    "Store",
    "UserFacts",
]
