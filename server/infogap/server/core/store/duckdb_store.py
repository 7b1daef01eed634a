"""The DuckDB store: users, items, append-only events and model metadata in one embedded file.

SQL is kept here, grouped by concern. Reads run on per-thread cursors so they proceed in
parallel; writes are serialised by one lock (events go through ``ingest.EventWriter``, which
groups concurrent batches into shared commits).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from infogap.server.core.domain import (
    Experiment,
    ExperimentStatus,
    Item,
    ModelInfo,
    TrainingDecision,
    User,
    UserPatch,
    Variant,
)
from infogap.server.core.store.migrations import migrate

DATABASE_FILE = "infogap.duckdb"

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("catalog", pa.string()),
        ("type", pa.string()),
        ("value", pa.float64()),
        ("event_time", pa.timestamp("us")),
        ("recommendation_id", pa.string()),
        ("context", pa.string()),
        ("received_at", pa.timestamp("us")),
    ]
)


# An event's weight as a training signal, over ``events e JOIN <type weights> w``: the type's
# weight; for star ratings (positive_from set) weight * (stars - positive_from + 1) from
# positive_from up, and nothing below it.
EVENT_WEIGHT_SQL = """
    CASE WHEN w.positive_from IS NULL THEN w.weight
         WHEN e.value >= w.positive_from THEN w.weight * (e.value - w.positive_from + 1)
         ELSE 0 END
"""

# Every table that holds rows about a user (erasure deletes from each).
_USER_TABLES = ("users", "events", "user_clusters", "impressions")

_RECOUNT_CLUSTERS = "UPDATE clusters SET size = (SELECT count(*) FROM user_clusters u WHERE u.cluster = clusters.name)"

IMPRESSION_SCHEMA = pa.schema(
    [
        ("recommendation_id", pa.string()),
        ("experiment", pa.string()),
        ("variant", pa.string()),
        ("user_id", pa.string()),
        ("catalog", pa.string()),
        ("item_ids", pa.list_(pa.string())),
        ("served_at", pa.timestamp("us")),
    ]
)

# Per (variant, user) of one experiment: lists served, impressions, and the feedback attributed
# to them. Feedback counts when it carries the recommendation_id of a list served to the same
# user and happens within the attribution window after it (less the allowed clock skew, as
# client clocks run early too). A click counts once per served item it lands on; conversions
# count whatever the item, since a purchase often follows a recommendation elsewhere.
_EXPERIMENT_OUTCOMES = """
    WITH served AS (
        SELECT * FROM impressions WHERE experiment = $experiment
    ),
    exposure AS (
        SELECT variant, user_id, count(*) AS lists, sum(len(item_ids)) AS impressions
        FROM served GROUP BY variant, user_id
    ),
    attributed AS (
        SELECT s.variant, s.user_id, s.recommendation_id, e.item_id, e.type, e.value,
               list_contains(s.item_ids, e.item_id) AS on_served_item
        FROM events e JOIN served s
          ON e.recommendation_id = s.recommendation_id AND e.user_id = s.user_id
        WHERE e.event_time >= s.served_at - to_microseconds($skew_us)
          AND e.event_time <= s.served_at + to_microseconds($window_us)
    ),
    feedback AS (
        SELECT variant, user_id,
               count(DISTINCT CASE WHEN type IN (SELECT unnest($click_types)) AND on_served_item
                                   THEN recommendation_id || chr(0) || item_id END) AS clicks,
               count(*) FILTER (WHERE type IN (SELECT unnest($conversion_types))) AS conversions,
               coalesce(sum(value) FILTER (WHERE type IN (SELECT unnest($conversion_types))), 0)
                   AS revenue
        FROM attributed GROUP BY variant, user_id
    )
    SELECT x.variant, x.lists, x.impressions, coalesce(f.clicks, 0) AS clicks,
           coalesce(f.conversions, 0) AS conversions, coalesce(f.revenue, 0.0) AS revenue
    FROM exposure x LEFT JOIN feedback f USING (variant, user_id)
    ORDER BY x.variant, x.user_id
"""

_INSERT_EVENTS = (
    "INSERT INTO events SELECT event_id, user_id, item_id, catalog, type, value, event_time, "
    "recommendation_id, context, received_at FROM event_batch"
)


@dataclass(frozen=True)
class CatalogItems:
    """Every item of a catalog known to the items table, column-wise."""

    item_ids: np.ndarray  # object array of str
    tags: list[list[str]]
    attributes: list[dict[str, str]]
    active: np.ndarray  # bool


@dataclass(frozen=True)
class Interactions:
    """Aggregated (user, item, weight) triples of a catalog, column-wise."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: np.ndarray  # float32
    event_count: int


class Store:
    """Owns the DuckDB database file of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._db = duckdb.connect(str(data_dir / DATABASE_FILE))
        migrate(self._db)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self.write_lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database (DuckDB connections are not shared)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._db.cursor()
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    def close(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._db.close()

    # -- users and items ---------------------------------------------------------------------

    def upsert_users(self, users: Sequence[User], now: datetime) -> int:
        with self.write_lock, self._transaction() as db:
            self._write_users(db, users, now)
        return len(users)

    @staticmethod
    def _write_users(db: duckdb.DuckDBPyConnection, users: Sequence[User], now: datetime) -> None:
        batch = pa.table(
            {
                "user_id": [u.user_id for u in users],
                "attributes": [json.dumps(dict(u.attributes), sort_keys=True) for u in users],
                "updated_at": pa.array([now] * len(users), pa.timestamp("us")),
            }
        )
        db.register("user_batch", batch)
        try:
            db.execute(
                "INSERT OR REPLACE INTO users SELECT user_id, attributes::JSON, updated_at "
                "FROM user_batch"
            )
        finally:
            db.unregister("user_batch")

    def upsert_items(self, items: Sequence[Item], now: datetime) -> int:
        batch = pa.table(
            {
                "catalog": [i.catalog for i in items],
                "item_id": [i.item_id for i in items],
                "attributes": [json.dumps(dict(i.attributes), sort_keys=True) for i in items],
                "tags": pa.array([list(i.tags) for i in items], pa.list_(pa.string())),
                "active": [i.active for i in items],
                "updated_at": pa.array([now] * len(items), pa.timestamp("us")),
            }
        )
        with self.write_lock, self._transaction() as db:
            db.register("item_batch", batch)
            db.execute(
                "INSERT OR REPLACE INTO items SELECT catalog, item_id, attributes::JSON, tags, "
                "active, updated_at FROM item_batch"
            )
            db.unregister("item_batch")
        return len(items)

    def patch_users(self, patches: Sequence[UserPatch], now: datetime) -> int:
        """Sets and unsets attributes, creating users not yet known, in one transaction."""
        with self.write_lock, self._transaction() as db:
            current = {
                user_id: json.loads(attributes)
                for user_id, attributes in db.execute(
                    "SELECT user_id, attributes FROM users WHERE user_id IN (SELECT unnest(?))",
                    [[p.user_id for p in patches]],
                ).fetchall()
            }
            patched = []
            for patch in patches:
                attributes = current.get(patch.user_id, {})
                attributes.update(patch.set_attributes)
                for name in patch.unset_attributes:
                    attributes.pop(name, None)
                patched.append(User(patch.user_id, attributes))
            self._write_users(db, patched, now)
        return len(patches)

    def get_user(self, user_id: str) -> tuple[dict[str, str], datetime] | None:
        row = (
            self.cursor()
            .execute("SELECT attributes, updated_at FROM users WHERE user_id = ?", [user_id])
            .fetchone()
        )
        return None if row is None else (json.loads(row[0]), row[1])

    def user_attributes(self, user_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Attributes of those of ``user_ids`` that were upserted."""
        rows = (
            self.cursor()
            .execute(
                "SELECT user_id, attributes FROM users WHERE user_id IN (SELECT unnest(?))",
                [list(user_ids)],
            )
            .fetchall()
        )
        return {user_id: json.loads(attributes) for user_id, attributes in rows}

    def catalog_items(self, catalog: str) -> CatalogItems:
        rows = (
            self.cursor()
            .execute(
                "SELECT item_id, tags, attributes, active FROM items WHERE catalog = ? "
                "ORDER BY item_id",
                [catalog],
            )
            .fetchall()
        )
        return CatalogItems(
            item_ids=np.array([r[0] for r in rows], dtype=object),
            tags=[list(r[1]) for r in rows],
            attributes=[json.loads(r[2]) for r in rows],
            active=np.array([r[3] for r in rows], dtype=bool),
        )

    # -- events ------------------------------------------------------------------------------

    def insert_events(self, batch: pa.Table) -> set[str]:
        """Stores the events whose id is new, in one committed transaction; returns their ids.

        ``batch`` follows ``EVENT_SCHEMA`` and must not repeat an event id. A plain INSERT checks
        the primary key through its index and is tried first; DuckDB plans INSERT OR IGNORE as a
        merge that scans the whole event_id column, so that path is kept for batches that do hold
        a stored id (retries).
        """
        with self.write_lock:
            db = self.cursor()
            db.register("event_batch", batch)
            try:
                try:
                    with self._transaction():
                        db.execute(_INSERT_EVENTS)
                    return set(batch.column("event_id").to_pylist())
                except (duckdb.ConstraintException, duckdb.TransactionException):
                    pass
                with self._transaction():
                    stored = {
                        row[0]
                        for row in db.execute(
                            "SELECT event_id FROM events "
                            "WHERE event_id IN (SELECT event_id FROM event_batch)"
                        ).fetchall()
                    }
                    new_ids = set(batch.column("event_id").to_pylist()) - stored
                    if new_ids:
                        db.execute(
                            _INSERT_EVENTS + " WHERE event_id NOT IN (SELECT unnest(?))",
                            [list(stored)],
                        )
                return new_ids
            finally:
                db.unregister("event_batch")

    def interactions(
        self, catalog: str, type_weights: pa.Table, half_life_days: float | None = None
    ) -> Interactions:
        """Sums event weights per (user, item) of a catalog; keeps pairs with a positive sum.

        ``type_weights`` has columns type, weight, positive_from (see ``EVENT_WEIGHT_SQL``).
        With ``half_life_days``, an event's weight halves for every that many days it is older
        than the catalog's latest event.
        """
        decay = "1"
        params: list[object] = []
        if half_life_days is not None:
            decay = (
                "pow(0.5, date_diff('second', e.event_time, "
                "(SELECT max(event_time) FROM events WHERE catalog = ?)) / ?)"
            )
            params = [catalog, half_life_days * 86_400.0]
        db = self.cursor()
        db.register("type_weights", type_weights)
        try:
            table = db.sql(
                f"""
                SELECT user_id, item_id, SUM(({EVENT_WEIGHT_SQL}) * {decay})::FLOAT AS weight,
                       COUNT(*) AS events
                FROM events e JOIN type_weights w ON e.type = w.type
                WHERE e.catalog = ?
                GROUP BY user_id, item_id
                """,
                params=[*params, catalog],
            ).to_arrow_table()
        finally:
            db.unregister("type_weights")
        weights = table.column("weight").to_numpy()
        keep = weights > 0
        return Interactions(
            user_ids=table.column("user_id").to_numpy(zero_copy_only=False)[keep],
            item_ids=table.column("item_id").to_numpy(zero_copy_only=False)[keep],
            weights=weights[keep].astype(np.float32),
            event_count=int(table.column("events").to_numpy().sum()),
        )

    def seen_pairs(self, catalog: str, seen_types: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (user_id, item_id) pairs of a catalog with an event of one of ``seen_types``."""
        table = (
            self.cursor()
            .sql(
                "SELECT DISTINCT user_id, item_id FROM events "
                "WHERE catalog = ? AND type IN (SELECT unnest(?))",
                params=[catalog, list(seen_types)],
            )
            .to_arrow_table()
        )
        return (
            table.column("user_id").to_numpy(zero_copy_only=False),
            table.column("item_id").to_numpy(zero_copy_only=False),
        )

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Removes every row of a user in one transaction; returns rows removed per table."""
        with self.write_lock, self._transaction() as db:
            removed = {}
            for table in _USER_TABLES:
                # Table names come from the constant above, never from input.
                rows = db.execute(
                    f"DELETE FROM {table} WHERE user_id = ? RETURNING 1", [user_id]
                ).fetchall()
                removed[table] = len(rows)
            if removed["user_clusters"]:
                db.execute(_RECOUNT_CLUSTERS)
        return removed

    # -- segments ----------------------------------------------------------------------------

    def define_segment(self, name: str, rule: str, description: str, now: datetime) -> None:
        with self.write_lock, self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?)",
                [name, rule, description, now],
            )

    def delete_segment(self, name: str) -> bool:
        with self.write_lock, self._transaction() as db:
            deleted = db.execute(
                "DELETE FROM segments WHERE name = ? RETURNING name", [name]
            ).fetchall()
        return bool(deleted)

    def segment_rules(self) -> list[tuple[str, str, str]]:
        """(name, rule, description) of every rule segment, by name."""
        return (
            self.cursor()
            .execute("SELECT name, rule, description FROM segments ORDER BY name")
            .fetchall()
        )

    def replace_clusters(
        self, clusters: Sequence[tuple[str, str, int]], members: dict[str, str], now: datetime
    ) -> None:
        """Replaces every data-driven segment: (name, description, size) and user -> name."""
        assignments = pa.table({"user_id": list(members), "cluster": list(members.values())})
        with self.write_lock, self._transaction() as db:
            db.execute("DELETE FROM user_clusters")
            db.execute("DELETE FROM clusters")
            for name, description, size in clusters:
                db.execute(
                    "INSERT INTO clusters VALUES (?, ?, ?, ?)", [name, description, size, now]
                )
            db.register("cluster_assignments", assignments)
            try:
                # Users erased while the clusters were computed must not come back.
                db.execute(
                    "INSERT INTO user_clusters SELECT * FROM cluster_assignments "
                    "WHERE user_id IN (SELECT user_id FROM users UNION SELECT user_id FROM events)"
                )
                db.execute(_RECOUNT_CLUSTERS)
            finally:
                db.unregister("cluster_assignments")

    def clusters(self) -> list[tuple[str, str, int]]:
        """(name, description, size) of every data-driven segment, by name."""
        return (
            self.cursor()
            .execute("SELECT name, description, size FROM clusters ORDER BY name")
            .fetchall()
        )

    def cluster_members(self, name: str) -> list[str]:
        return [
            row[0]
            for row in self.cursor()
            .execute("SELECT user_id FROM user_clusters WHERE cluster = ? ORDER BY user_id", [name])
            .fetchall()
        ]

    # -- models ------------------------------------------------------------------------------

    def record_training(
        self, infos: Sequence[ModelInfo], paths: Sequence[str], decision: TrainingDecision
    ) -> None:
        """Records a training run's models and decision atomically; promoted models become the
        ones serving their (catalog, strategy)."""
        with self.write_lock, self._transaction() as db:
            for info, path in zip(infos, paths):
                if decision.promoted:
                    db.execute(
                        "UPDATE models SET serving = false WHERE catalog = ? AND strategy = ?",
                        [info.catalog, info.strategy],
                    )
                db.execute(
                    "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        info.catalog,
                        info.strategy,
                        info.version,
                        info.trained_at,
                        info.training_seconds,
                        info.user_count,
                        info.item_count,
                        info.event_count,
                        json.dumps(dict(info.parameters)),
                        json.dumps(dict(info.metrics)),
                        path,
                        decision.promoted,
                    ],
                )
            db.execute(
                "INSERT INTO training_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    decision.catalog,
                    decision.candidate_version,
                    decision.promoted,
                    decision.metric,
                    decision.candidate_value,
                    decision.serving_value,
                    decision.serving_version,
                    decision.tolerance,
                    decision.reason,
                    decision.decided_at,
                ],
            )

    def last_decisions(self) -> dict[str, TrainingDecision]:
        """The latest training decision of every catalog."""
        rows = (
            self.cursor()
            .execute(
                "SELECT * FROM training_runs QUALIFY row_number() OVER "
                "(PARTITION BY catalog ORDER BY decided_at DESC, candidate_version DESC) = 1"
            )
            .fetchall()
        )
        return {row[0]: TrainingDecision(*row) for row in rows}

    def serving_models(self) -> list[tuple[ModelInfo, str]]:
        """Every serving model with its artifact path, by catalog then strategy."""
        rows = (
            self.cursor()
            .execute(f"{_MODEL_COLUMNS} WHERE serving ORDER BY catalog, strategy")
            .fetchall()
        )
        return [_model_info(r) for r in rows]

    def model_version(self, catalog: str, version: str) -> list[tuple[ModelInfo, str]]:
        """The models one training run of a catalog produced, with their artifact paths."""
        rows = (
            self.cursor()
            .execute(
                f"{_MODEL_COLUMNS} WHERE catalog = ? AND version = ? ORDER BY strategy",
                [catalog, version],
            )
            .fetchall()
        )
        return [_model_info(r) for r in rows]

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment) -> bool:
        """Stores a new experiment; False (and nothing written) if the name is taken."""
        with self.write_lock, self._transaction() as db:
            if db.execute("SELECT 1 FROM experiments WHERE name = ?", [experiment.name]).fetchone():
                return False
            db.execute(
                "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    experiment.name,
                    experiment.catalog,
                    experiment.description,
                    json.dumps(
                        [
                            {
                                "name": v.name,
                                "share": v.share,
                                "strategies": list(v.strategies),
                                "blend": v.blend,
                                "model_version": v.model_version,
                                "excluded_rerankers": list(v.excluded_rerankers),
                            }
                            for v in experiment.variants
                        ]
                    ),
                    experiment.attribution_window_seconds,
                    experiment.status.value,
                    experiment.created_at,
                    experiment.started_at,
                    experiment.stopped_at,
                ],
            )
        return True

    def set_experiment_status(
        self,
        name: str,
        status: ExperimentStatus,
        at: datetime,
        expected_status: ExperimentStatus,
    ) -> bool:
        """Moves an experiment from ``expected_status`` to ``status`` (stamping the start or
        stop time); False if it was not in ``expected_status``."""
        column = {ExperimentStatus.RUNNING: "started_at", ExperimentStatus.STOPPED: "stopped_at"}[
            status
        ]
        with self.write_lock, self._transaction() as db:
            # The column name comes from the mapping above, never from input.
            changed = db.execute(
                f"UPDATE experiments SET status = ?, {column} = ? "
                "WHERE name = ? AND status = ? RETURNING 1",
                [status.value, at, name, expected_status.value],
            ).fetchall()
        return bool(changed)

    def experiments(self) -> list[Experiment]:
        """Every experiment, newest first."""
        rows = (
            self.cursor()
            .execute(
                "SELECT name, catalog, description, variants, attribution_window_seconds, status, "
                "created_at, started_at, stopped_at FROM experiments ORDER BY created_at DESC, name"
            )
            .fetchall()
        )
        return [
            Experiment(
                name=r[0],
                catalog=r[1],
                description=r[2],
                variants=tuple(
                    Variant(
                        name=v["name"],
                        share=v["share"],
                        strategies=tuple(v["strategies"]),
                        blend=v["blend"],
                        model_version=v["model_version"],
                        excluded_rerankers=tuple(v["excluded_rerankers"]),
                    )
                    for v in json.loads(r[3])
                ),
                attribution_window_seconds=r[4],
                status=ExperimentStatus(r[5]),
                created_at=r[6],
                started_at=r[7],
                stopped_at=r[8],
            )
            for r in rows
        ]

    def insert_impressions(self, served: pa.Table) -> None:
        with self.write_lock, self._transaction() as db:
            db.register("served_batch", served)
            try:
                db.execute("INSERT INTO impressions SELECT * FROM served_batch")
            finally:
                db.unregister("served_batch")

    def experiment_outcomes(
        self,
        experiment: str,
        *,
        click_types: Sequence[str],
        conversion_types: Sequence[str],
        window_seconds: float,
        skew_seconds: float,
    ) -> pa.Table:
        """One row per (variant, user) exposed in the experiment: ``variant``, ``lists``,
        ``impressions``, ``clicks``, ``conversions`` and ``revenue``."""
        return (
            self.cursor()
            .sql(
                _EXPERIMENT_OUTCOMES,
                params={
                    "experiment": experiment,
                    "click_types": list(click_types),
                    "conversion_types": list(conversion_types),
                    "window_us": round(window_seconds * 1e6),
                    "skew_us": round(skew_seconds * 1e6),
                },
            )
            .to_arrow_table()
        )

    # -- helpers -----------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self.cursor())


_MODEL_COLUMNS = (
    "SELECT catalog, strategy, version, trained_at, training_seconds, user_count, "
    "item_count, event_count, parameters, metrics, path FROM models"
)


def _model_info(row: tuple) -> tuple[ModelInfo, str]:
    """A row of ``_MODEL_COLUMNS`` as the model's info and its artifact path."""
    info = ModelInfo(
        catalog=row[0],
        strategy=row[1],
        version=row[2],
        trained_at=row[3],
        training_seconds=row[4],
        user_count=row[5],
        item_count=row[6],
        event_count=row[7],
        parameters=json.loads(row[8]),
        metrics=json.loads(row[9]),
    )
    return info, row[10]


class _Transaction:
    """BEGIN ... COMMIT on a cursor, ROLLBACK if the block raises."""

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self._db = db

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self._db.execute("BEGIN TRANSACTION")
        return self._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
