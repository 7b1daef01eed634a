"""Erasure: every row about one user, removed in one transaction."""

from __future__ import annotations

from infogap.server.core.store.duckdb.connection import DuckDBConnection
from infogap.server.core.store.duckdb.segments import RECOUNT_CLUSTERS

# Every table that holds rows about a user (erasure deletes from each).
USER_TABLES = ("users", "events", "user_clusters", "impressions")


class Erasure(DuckDBConnection):
    def delete_user(self, user_id: str) -> dict[str, int]:
        with self._write() as db:
            removed = {}
            for table in USER_TABLES:
                # Table names come from the constant above, never from input.
                rows = db.execute(
                    f"DELETE FROM {table} WHERE user_id = ? RETURNING 1", [user_id]
                ).fetchall()
                removed[table] = len(rows)
            if removed["user_clusters"]:
                db.execute(RECOUNT_CLUSTERS)
        if removed["user_clusters"]:
            self.cluster_membership.forget()
        return removed
