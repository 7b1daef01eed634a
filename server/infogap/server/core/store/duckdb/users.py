"""Users and items: attributes as JSON, replaced whole on upsert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from infogap.server.core.domain import Item, User, UserPatch
from infogap.server.core.store.duckdb.connection import DuckDBConnection, registered
from infogap.server.core.store.records import CatalogItems
from infogap.server.core.store.serialisers import attributes_from_json, attributes_to_json

_UPSERT_USERS = (
    "INSERT OR REPLACE INTO users SELECT user_id, attributes::JSON, updated_at FROM user_batch"
)
_UPSERT_ITEMS = (
    "INSERT OR REPLACE INTO items SELECT catalog, item_id, attributes::JSON, tags, active, "
    "updated_at FROM item_batch"
)
_USERS_IN = "SELECT user_id, attributes FROM users WHERE user_id IN (SELECT unnest(?))"
_USER = "SELECT attributes, updated_at FROM users WHERE user_id = ?"
_USER_RECORDS = "SELECT user_id, attributes, updated_at FROM users"
_CATALOG_ITEMS = (
    "SELECT item_id, tags, attributes, active FROM items WHERE catalog = ? ORDER BY item_id"
)


class UsersAndItems(DuckDBConnection):
    def upsert_users(self, users: Sequence[User], now: datetime) -> int:
        with self._write() as db:
            _write_users(db, users, now)
        return len(users)

    def patch_users(self, patches: Sequence[UserPatch], now: datetime) -> int:
        with self._write() as db:
            current = {
                user_id: attributes_from_json(attributes)
                for user_id, attributes in db.execute(
                    _USERS_IN, [[p.user_id for p in patches]]
                ).fetchall()
            }
            patched = []
            for patch in patches:
                attributes = current.get(patch.user_id, {})
                attributes.update(patch.set_attributes)
                for name in patch.unset_attributes:
                    attributes.pop(name, None)
                patched.append(User(patch.user_id, attributes))
            _write_users(db, patched, now)
        return len(patches)

    def upsert_items(self, items: Sequence[Item], now: datetime) -> int:
        batch = pa.table(
            {
                "catalog": [i.catalog for i in items],
                "item_id": [i.item_id for i in items],
                "attributes": [attributes_to_json(i.attributes) for i in items],
                "tags": pa.array([list(i.tags) for i in items], pa.list_(pa.string())),
                "active": [i.active for i in items],
                "updated_at": pa.array([now] * len(items), pa.timestamp("us")),
            }
        )
        with self._write() as db, registered(db, "item_batch", batch):
            db.execute(_UPSERT_ITEMS)
        self.item_features.forget((i.catalog, i.item_id) for i in items)
        return len(items)

    def get_user(self, user_id: str) -> tuple[dict[str, str], datetime] | None:
        rows = self.cursor().execute(_USER, [user_id]).fetchall()
        return None if not rows else (attributes_from_json(rows[0][0]), rows[0][1])

    def user_attributes(self, user_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        rows = self.cursor().execute(_USERS_IN, [list(user_ids)]).fetchall()
        return {user_id: attributes_from_json(attributes) for user_id, attributes in rows}

    def user_records(
        self, user_ids: Sequence[str] | None
    ) -> dict[str, tuple[dict[str, str], datetime]]:
        if user_ids is None:
            rows = self.cursor().execute(_USER_RECORDS).fetchall()
        else:
            rows = (
                self.cursor()
                .execute(f"{_USER_RECORDS} WHERE user_id IN (SELECT unnest(?))", [list(user_ids)])
                .fetchall()
            )
        return {user_id: (attributes_from_json(a), updated) for user_id, a, updated in rows}

    def catalog_items(self, catalog: str) -> CatalogItems:
        rows = self.cursor().execute(_CATALOG_ITEMS, [catalog]).fetchall()
        return CatalogItems(
            item_ids=np.array([r[0] for r in rows], dtype=object),
            tags=[list(r[1]) for r in rows],
            attributes=[attributes_from_json(r[2]) for r in rows],
            active=np.array([r[3] for r in rows], dtype=bool),
        )


def _write_users(db: duckdb.DuckDBPyConnection, users: Sequence[User], now: datetime) -> None:
    batch = pa.table(
        {
            "user_id": [u.user_id for u in users],
            "attributes": [attributes_to_json(u.attributes) for u in users],
            "updated_at": pa.array([now] * len(users), pa.timestamp("us")),
        }
    )
    with registered(db, "user_batch", batch):
        db.execute(_UPSERT_USERS)
