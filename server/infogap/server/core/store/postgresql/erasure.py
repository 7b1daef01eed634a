"""Erasure: every row about one user, removed in one transaction; notifies ``ERASURE_CHANNEL``
with the user id, so that other servers drop what they cached about the user."""

from __future__ import annotations

from infogap.server.core.store.duckdb.erasure import USER_TABLES
from infogap.server.core.store.postgresql.connection import PostgreSQLConnection, notify
from infogap.server.core.store.postgresql.segments import RECOUNT_CLUSTERS
from infogap.server.core.store.records import ERASURE_CHANNEL

_DELETE_ROWS = "DELETE FROM {table} WHERE user_id = %s"
# The ids of the deleted events go too, as DuckDB forgets them with the rows: an event sent
# again after the erasure is stored again on either backend. One row of each per event.
_DELETE_EVENTS = """
    WITH gone AS (DELETE FROM events WHERE user_id = %s RETURNING event_id)
    DELETE FROM event_ids WHERE event_id IN (SELECT event_id FROM gone)
"""


class Erasure(PostgreSQLConnection):
    def delete_user(self, user_id: str) -> dict[str, int]:
        with self._write() as db:
            removed = {}
            for table in USER_TABLES:
                # Table names come from the constant, never from input.
                sql = _DELETE_EVENTS if table == "events" else _DELETE_ROWS.format(table=table)
                removed[table] = db.execute(sql, [user_id]).rowcount
            if removed["user_clusters"]:
                db.execute(RECOUNT_CLUSTERS)
            notify(db, ERASURE_CHANNEL, user_id)
        return removed
