"""Where InfoGap keeps its state: users, items, events, model records, segments, experiments and
the privacy ledger. Import the store from here, not from the module of one backend."""

from infogap.server.core.store.duckdb_store import (
    DATABASE_FILE,
    EVENT_SCHEMA,
    EVENT_WEIGHT_SQL,
    IMPRESSION_SCHEMA,
    CatalogItems,
    Interactions,
    Store,
)

__all__ = [
    "DATABASE_FILE",
    "EVENT_SCHEMA",
    "EVENT_WEIGHT_SQL",
    "IMPRESSION_SCHEMA",
    "CatalogItems",
    "Interactions",
    "Store",
]
