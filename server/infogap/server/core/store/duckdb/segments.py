"""Segments: rule segments defined by name, and data-driven clusters replaced whole."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from infogap.server.core.store.duckdb.connection import DuckDBConnection, registered

_DEFINE_SEGMENT = "INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?)"
_DELETE_SEGMENT = "DELETE FROM segments WHERE name = ? RETURNING name"
_SEGMENT_RULES = "SELECT name, rule, description FROM segments ORDER BY name"
_INSERT_CLUSTER = "INSERT INTO clusters VALUES (?, ?, ?, ?)"
# Users erased while the clusters were computed must not come back.
_INSERT_MEMBERS = (
    "INSERT INTO user_clusters SELECT * FROM cluster_assignments "
    "WHERE user_id IN (SELECT user_id FROM users UNION SELECT user_id FROM events)"
)
RECOUNT_CLUSTERS = (
    "UPDATE clusters SET size = "
    "(SELECT count(*) FROM user_clusters u WHERE u.cluster = clusters.name)"
)
_CLUSTERS = "SELECT name, description, size FROM clusters ORDER BY name"
_CLUSTER_MEMBERS = "SELECT user_id FROM user_clusters WHERE cluster = ? ORDER BY user_id"


class Segments(DuckDBConnection):
    def define_segment(self, name: str, rule: str, description: str, now: datetime) -> None:
        with self._write() as db:
            db.execute(_DEFINE_SEGMENT, [name, rule, description, now])

    def delete_segment(self, name: str) -> bool:
        with self._write() as db:
            deleted = db.execute(_DELETE_SEGMENT, [name]).fetchall()
        return bool(deleted)

    def segment_rules(self) -> list[tuple[str, str, str]]:
        return self.cursor().execute(_SEGMENT_RULES).fetchall()

    def replace_clusters(
        self, clusters: Sequence[tuple[str, str, int]], members: dict[str, str], now: datetime
    ) -> None:
        assignments = pa.table({"user_id": list(members), "cluster": list(members.values())})
        with self._write() as db:
            db.execute("DELETE FROM user_clusters")
            db.execute("DELETE FROM clusters")
            for name, description, size in clusters:
                db.execute(_INSERT_CLUSTER, [name, description, size, now])
            with registered(db, "cluster_assignments", assignments):
                db.execute(_INSERT_MEMBERS)
                db.execute(RECOUNT_CLUSTERS)
        self.cluster_membership.forget()

    def clusters(self) -> list[tuple[str, str, int]]:
        return self.cursor().execute(_CLUSTERS).fetchall()

    def cluster_members(self, name: str) -> list[str]:
        return [row[0] for row in self.cursor().execute(_CLUSTER_MEMBERS, [name]).fetchall()]
