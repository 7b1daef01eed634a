"""Segments: rule segments defined by name, and data-driven clusters replaced whole."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from infogap.server.core.store.postgresql.connection import PostgreSQLConnection

_DEFINE_SEGMENT = (
    "INSERT INTO segments VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE "
    "SET rule = excluded.rule, description = excluded.description, defined_at = excluded.defined_at"
)
_DELETE_SEGMENT = "DELETE FROM segments WHERE name = %s RETURNING name"
_SEGMENT_RULES = "SELECT name, rule, description FROM segments ORDER BY name"
_INSERT_CLUSTER = "INSERT INTO clusters VALUES (%s, %s, %s, %s)"
# Users erased while the clusters were computed must not come back.
_INSERT_MEMBERS = """
    INSERT INTO user_clusters
    SELECT m.user_id, m.cluster FROM unnest(%s::text[], %s::text[]) AS m(user_id, cluster)
    WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.user_id)
       OR EXISTS (SELECT 1 FROM events e WHERE e.user_id = m.user_id)
"""
RECOUNT_CLUSTERS = (
    "UPDATE clusters SET size = "
    "(SELECT count(*) FROM user_clusters u WHERE u.cluster = clusters.name)"
)
_CLUSTERS = "SELECT name, description, size FROM clusters ORDER BY name"
_CLUSTER_MEMBERS = "SELECT user_id FROM user_clusters WHERE cluster = %s ORDER BY user_id"
# Serialises replace_clusters between processes (they replace the same whole tables).
_CLUSTERS_LOCK = 0x1AF0_6A90_0003


class Segments(PostgreSQLConnection):
    def define_segment(self, name: str, rule: str, description: str, now: datetime) -> None:
        with self._write() as db:
            db.execute(_DEFINE_SEGMENT, [name, rule, description, now])

    def delete_segment(self, name: str) -> bool:
        with self._write() as db:
            deleted = db.execute(_DELETE_SEGMENT, [name]).fetchall()
        return bool(deleted)

    def segment_rules(self) -> list[tuple[str, str, str]]:
        return self._rows(_SEGMENT_RULES)

    def replace_clusters(
        self, clusters: Sequence[tuple[str, str, int]], members: dict[str, str], now: datetime
    ) -> None:
        with self._write() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [_CLUSTERS_LOCK])
            db.execute("DELETE FROM user_clusters")
            db.execute("DELETE FROM clusters")
            with db.cursor() as cursor:
                cursor.executemany(
                    _INSERT_CLUSTER, [(name, desc, size, now) for name, desc, size in clusters]
                )
            db.execute(_INSERT_MEMBERS, [list(members), list(members.values())])
            db.execute(RECOUNT_CLUSTERS)

    def clusters(self) -> list[tuple[str, str, int]]:
        return self._rows(_CLUSTERS)

    def cluster_members(self, name: str) -> list[str]:
        return [row[0] for row in self._rows(_CLUSTER_MEMBERS, [name])]
