"""The privacy ledger's tables. A paid release checks the catalog's spending and writes in one
transaction holding a per-catalog advisory lock, so that two servers cannot both spend the last
of a budget."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import psycopg

from infogap.server.core.store.postgresql.connection import PostgreSQLConnection
from infogap.server.core.store.records import (
    PrivacyRelease,
    ReleasedValues,
    kept_values_row,
    refuse_unless_affordable,
)

_LOCK_CATALOG = "SELECT pg_advisory_xact_lock(hashtextextended('infogap.privacy:' || %s, 0))"
_SPENT = (
    "SELECT COALESCE(SUM(epsilon), 0) FROM privacy_releases "
    "WHERE catalog = %s AND released_at >= %s"
)
_INSERT_RELEASE = (
    "INSERT INTO privacy_releases (catalog, kind, scope, epsilon, delta, released_at, "
    "description) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_KEEP_VALUES = """
    INSERT INTO privacy_last_releases VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (catalog, kind, scope) DO UPDATE SET keys = excluded.keys,
        "values" = excluded."values", released_at = excluded.released_at,
        description = excluded.description
"""
_LAST_RELEASE = (
    'SELECT keys, "values", released_at, description FROM privacy_last_releases '
    "WHERE catalog = %s AND kind = %s AND scope = %s"
)
_RELEASES = (
    "SELECT kind, scope, epsilon, delta, released_at, description "
    "FROM privacy_releases WHERE catalog = %s AND released_at >= %s ORDER BY released_at, seq"
)


class PrivacyLedgerTables(PostgreSQLConnection):
    def spend_privacy_budget(
        self,
        catalog: str,
        release: PrivacyRelease,
        keys: np.ndarray,
        values: np.ndarray,
        *,
        window_start: datetime,
        epsilon_budget: float,
    ) -> None:
        with self._write() as db:
            db.execute(_LOCK_CATALOG, [catalog])
            spent = _spent(db, catalog, window_start)
            refuse_unless_affordable(catalog, release, spent, epsilon_budget)
            _insert_release(db, catalog, release)
            db.execute(_KEEP_VALUES, kept_values_row(catalog, release, keys, values))

    def append_privacy_release(self, catalog: str, release: PrivacyRelease) -> None:
        with self._write() as db:
            _insert_release(db, catalog, release)

    def last_privacy_release(self, catalog: str, kind: str, scope: str) -> ReleasedValues | None:
        rows = self._rows(_LAST_RELEASE, [catalog, kind, scope])
        if not rows:
            return None
        ((keys, values, released_at, description),) = rows
        return ReleasedValues(
            np.array(keys, dtype=object),
            np.array(values, dtype=np.float64),
            released_at,
            description,
        )

    def privacy_releases(self, catalog: str, since: datetime) -> list[PrivacyRelease]:
        return [PrivacyRelease(*row) for row in self._rows(_RELEASES, [catalog, since])]

    def privacy_spent(self, catalog: str, since: datetime) -> float:
        with self._connection() as db:
            return _spent(db, catalog, since)


def _spent(db: psycopg.Connection, catalog: str, since: datetime) -> float:
    row = db.execute(_SPENT, [catalog, since]).fetchone()
    return float(row[0]) if row is not None else 0.0


def _insert_release(db: psycopg.Connection, catalog: str, release: PrivacyRelease) -> None:
    db.execute(
        _INSERT_RELEASE,
        [
            catalog,
            release.kind,
            release.scope,
            release.epsilon,
            release.delta,
            release.released_at,
            release.description,
        ],
    )
