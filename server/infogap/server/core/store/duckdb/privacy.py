"""The privacy ledger's tables: every release with what it spent, and the latest values of each
paid release, kept for reuse."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np

from infogap.server.core.store.duckdb.connection import DuckDBConnection
from infogap.server.core.store.records import (
    PrivacyRelease,
    ReleasedValues,
    kept_values_row,
    refuse_unless_affordable,
)

_SPENT = (
    "SELECT COALESCE(SUM(epsilon), 0) FROM privacy_releases WHERE catalog = ? AND released_at >= ?"
)
_INSERT_RELEASE = "INSERT INTO privacy_releases VALUES (?, ?, ?, ?, ?, ?, ?)"
_KEEP_VALUES = "INSERT OR REPLACE INTO privacy_last_releases VALUES (?, ?, ?, ?, ?, ?, ?)"
_LAST_RELEASE = (
    'SELECT keys, "values", released_at, description FROM privacy_last_releases '
    "WHERE catalog = ? AND kind = ? AND scope = ?"
)
_RELEASES = (
    "SELECT kind, scope, epsilon, delta, released_at, description "
    "FROM privacy_releases WHERE catalog = ? AND released_at >= ? ORDER BY released_at, rowid"
)


class PrivacyLedgerTables(DuckDBConnection):
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
            spent = _spent(db, catalog, window_start)
            refuse_unless_affordable(catalog, release, spent, epsilon_budget)
            _insert_release(db, catalog, release)
            db.execute(_KEEP_VALUES, kept_values_row(catalog, release, keys, values))

    def append_privacy_release(self, catalog: str, release: PrivacyRelease) -> None:
        with self._write() as db:
            _insert_release(db, catalog, release)

    def last_privacy_release(self, catalog: str, kind: str, scope: str) -> ReleasedValues | None:
        rows = self.cursor().execute(_LAST_RELEASE, [catalog, kind, scope]).fetchall()
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
        rows = self.cursor().execute(_RELEASES, [catalog, since]).fetchall()
        return [PrivacyRelease(*row) for row in rows]

    def privacy_spent(self, catalog: str, since: datetime) -> float:
        return _spent(self.cursor(), catalog, since)


def _spent(db: duckdb.DuckDBPyConnection, catalog: str, since: datetime) -> float:
    ((spent,),) = db.execute(_SPENT, [catalog, since]).fetchall()
    return float(spent)


def _insert_release(db: duckdb.DuckDBPyConnection, catalog: str, release: PrivacyRelease) -> None:
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
