"""Users and items: attributes as JSON text (keys sorted), replaced whole on upsert. Every
write notifies ``USERS_CHANNEL`` or ``ITEMS_CHANNEL``, so that other servers drop what they
cached of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from infogap.server.core.domain import Item, User, UserPatch
from infogap.server.core.store.postgresql.connection import PostgreSQLConnection, notify
from infogap.server.core.store.records import (
    ITEMS_CHANNEL,
    MAX_PAYLOAD_BYTES,
    USERS_CHANNEL,
    CatalogItems,
)
from infogap.server.core.store.serialisers import attributes_from_json, attributes_to_json

_UPSERT_USER = (
    "INSERT INTO users VALUES (%s, %s, %s) ON CONFLICT (user_id) DO UPDATE "
    "SET attributes = excluded.attributes, updated_at = excluded.updated_at"
)
_UPSERT_ITEM = (
    "INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (catalog, item_id) DO UPDATE "
    "SET attributes = excluded.attributes, tags = excluded.tags, active = excluded.active, "
    "updated_at = excluded.updated_at"
)
_USERS_IN = "SELECT user_id, attributes FROM users WHERE user_id = ANY(%s)"
_USERS_IN_FOR_UPDATE = _USERS_IN + " FOR UPDATE"
_USER = "SELECT attributes, updated_at FROM users WHERE user_id = %s"
_USER_RECORDS = "SELECT user_id, attributes, updated_at FROM users"
_CATALOG_ITEMS = (
    "SELECT item_id, tags, attributes, active FROM items WHERE catalog = %s ORDER BY item_id"
)


class UsersAndItems(PostgreSQLConnection):
    def upsert_users(self, users: Sequence[User], now: datetime) -> int:
        with self._write() as db:
            _write_users(db, users, now)
            notify(db, USERS_CHANNEL, _lines_or_nothing(u.user_id for u in users))
        return len(users)

    def patch_users(self, patches: Sequence[UserPatch], now: datetime) -> int:
        with self._write() as db:
            # FOR UPDATE: a concurrent patch of the same user waits, and patches what this wrote.
            rows = db.execute(_USERS_IN_FOR_UPDATE, [[p.user_id for p in patches]]).fetchall()
            current = {user_id: attributes_from_json(text) for user_id, text in rows}
            patched = []
            for patch in patches:
                attributes = current.get(patch.user_id, {})
                attributes.update(patch.set_attributes)
                for name in patch.unset_attributes:
                    attributes.pop(name, None)
                patched.append(User(patch.user_id, attributes))
            _write_users(db, patched, now)
            notify(db, USERS_CHANNEL, _lines_or_nothing(p.user_id for p in patches))
        return len(patches)

    def upsert_items(self, items: Sequence[Item], now: datetime) -> int:
        # Sorted by key: concurrent upserts of overlapping items lock rows in one order (no deadlock).
        rows = [
            (i.catalog, i.item_id, attributes_to_json(i.attributes), list(i.tags), i.active, now)
            for i in items
        ]
        with self._write() as db, db.cursor() as cursor:
            cursor.executemany(_UPSERT_ITEM, sorted(_last_per_key(rows, 2)))
            notify(db, ITEMS_CHANNEL, _lines_or_nothing({i.catalog for i in items}))
        return len(items)

    def get_user(self, user_id: str) -> tuple[dict[str, str], datetime] | None:
        rows = self._rows(_USER, [user_id])
        return None if not rows else (attributes_from_json(rows[0][0]), rows[0][1])

    def user_attributes(self, user_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        rows = self._rows(_USERS_IN, [list(user_ids)])
        return {user_id: attributes_from_json(attributes) for user_id, attributes in rows}

    def user_records(
        self, user_ids: Sequence[str] | None
    ) -> dict[str, tuple[dict[str, str], datetime]]:
        if user_ids is None:
            rows = self._rows(_USER_RECORDS)
        else:
            rows = self._rows(f"{_USER_RECORDS} WHERE user_id = ANY(%s)", [list(user_ids)])
        return {user_id: (attributes_from_json(a), updated) for user_id, a, updated in rows}

    def catalog_items(self, catalog: str) -> CatalogItems:
        rows = self._rows(_CATALOG_ITEMS, [catalog])
        return CatalogItems(
            item_ids=np.array([r[0] for r in rows], dtype=object),
            tags=[list(r[1]) for r in rows],
            attributes=[attributes_from_json(r[2]) for r in rows],
            active=np.array([r[3] for r in rows], dtype=bool),
        )


def _last_per_key(rows: Sequence[tuple[Any, ...]], key_length: int) -> list[tuple[Any, ...]]:
    """One row per key (the first ``key_length`` values), the last given winning, as a repeated
    key in one DuckDB ``INSERT OR REPLACE`` batch does."""
    kept: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        kept[row[:key_length]] = row
    return list(kept.values())


def _write_users(db: psycopg.Connection, users: Sequence[User], now: datetime) -> None:
    rows = [(u.user_id, attributes_to_json(u.attributes), now) for u in users]
    with db.cursor() as cursor:
        cursor.executemany(_UPSERT_USER, sorted(_last_per_key(rows, 1)))


def _lines_or_nothing(values: Iterable[str]) -> str:
    """A notification's payload: the values one a line, or '' (meaning "any") when they would
    not fit in one."""
    payload = "\n".join(sorted(set(values)))
    return payload if len(payload.encode()) <= MAX_PAYLOAD_BYTES else ""
