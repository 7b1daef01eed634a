"""Where InfoGap keeps its state: users, items, events, model records, segments, experiments and
the privacy ledger.

``Store`` is the interface the core depends on (``interface.py``); ``DuckDBStore`` is its
implementation on an embedded DuckDB file (``duckdb/``), opened with ``DuckDBStore(data_dir)``,
and ``PostgreSQLStore`` on a PostgreSQL database shared by several servers (``postgresql/``),
opened with ``PostgreSQLStore(url, data_dir)``; ``open_store(url, data_dir)`` chooses by the
URL. Import them from here, not from the modules of one backend.
"""

from pathlib import Path

from infogap.server.core.errors import StartupError
from infogap.server.core.store.duckdb import DATABASE_FILE, DuckDBStore
from infogap.server.core.store.interface import Store
from infogap.server.core.store.postgresql import PostgreSQLStore
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

POSTGRESQL_SCHEMES = ("postgresql", "postgres")


def open_store(url: str | None, data_dir: Path) -> Store:
    """The store at ``url``: None or empty for DuckDB in ``data_dir``, ``postgresql://...``
    (or ``postgres://``) for PostgreSQL with its model artifacts in ``data_dir``.

    Raises:
        StartupError: for a URL of any other scheme.
    """
    if not url:
        return DuckDBStore(data_dir)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in POSTGRESQL_SCHEMES:
        return PostgreSQLStore(url, data_dir)
    raise StartupError(
        f"the store URL's scheme {scheme or url!r} is not one of postgresql://, postgres://"
        " (or leave it empty for DuckDB in the data directory)"
    )


__all__ = [
    "DATABASE_FILE",
    "EVENT_SCHEMA",
    "IMPRESSION_SCHEMA",
    "CatalogItems",
    "DuckDBStore",
    "EventTypeActivity",
    "Interactions",
    "PostgreSQLStore",
    "PrivacyRelease",
    "ReleasedValues",
    "Store",
    "UserFacts",
    "open_store",
]
