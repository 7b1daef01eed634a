"""The numbered schema migrations."""

from __future__ import annotations

import duckdb

from infogap.server.core.store.migrations import MIGRATIONS, migrate


def test_migrations_apply_once():
    db = duckdb.connect()
    assert migrate(db) == [m.__name__ for m in MIGRATIONS]
    assert migrate(db) == []
    tables = {
        row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {"users", "items", "events", "models", "schema_migrations"} <= tables
