"""The PostgreSQL schema: numbered migrations, each applied once in its own transaction and
recorded in ``schema_migrations`` (the same idea as ``core.store.migrations`` for DuckDB).

Add a migration by appending a function to ``MIGRATIONS``; never edit one that has shipped.
Every text column that is compared or ordered uses the "C" collation, so that ties and sorts
are by bytes, as in DuckDB, whatever the database's locale.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

Migration = Callable[[psycopg.Connection], None]

# The advisory lock key that serialises migrations of one database between processes.
_MIGRATION_LOCK = 0x1AF0_6A90_0001


def m001_initial(db: psycopg.Connection) -> None:
    db.execute(
        """
        CREATE TABLE users (
            user_id     TEXT COLLATE "C" PRIMARY KEY,
            attributes  TEXT NOT NULL,          -- JSON object of string values, keys sorted
            updated_at  TIMESTAMP NOT NULL
        );
        CREATE TABLE items (
            catalog     TEXT COLLATE "C" NOT NULL,
            item_id     TEXT COLLATE "C" NOT NULL,
            attributes  TEXT NOT NULL,
            tags        TEXT[] NOT NULL,
            active      BOOLEAN NOT NULL,
            updated_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (catalog, item_id)
        );
        -- What makes recording idempotent: a partitioned table's unique key must hold the
        -- partition key, so the ids are kept unique here instead.
        CREATE TABLE event_ids (event_id TEXT COLLATE "C" PRIMARY KEY);
        -- Append-only, partitioned by month of event time (partitions are created as events
        -- arrive; the DEFAULT one takes anything else). ``tx`` is the writing transaction,
        -- what the replica feed (events_committed_after) reads by.
        CREATE TABLE events (
            event_id           TEXT COLLATE "C" NOT NULL,
            user_id            TEXT COLLATE "C" NOT NULL,
            item_id            TEXT COLLATE "C" NOT NULL,
            catalog            TEXT COLLATE "C" NOT NULL,
            type               TEXT COLLATE "C" NOT NULL,
            value              DOUBLE PRECISION NOT NULL,
            event_time         TIMESTAMP NOT NULL,
            recommendation_id  TEXT COLLATE "C" NOT NULL,
            context            TEXT NOT NULL,     -- JSON text; not parsed on the ingest path
            received_at        TIMESTAMP NOT NULL,
            tx                 XID8 NOT NULL DEFAULT pg_current_xact_id()
        ) PARTITION BY RANGE (event_time);
        CREATE TABLE events_default PARTITION OF events DEFAULT;
        CREATE INDEX events_user_time ON events (user_id, event_time);
        CREATE INDEX events_catalog_time ON events (catalog, event_time);
        CREATE INDEX events_recommendation ON events (recommendation_id);
        CREATE INDEX events_tx ON events (tx);
        CREATE TABLE models (
            catalog           TEXT COLLATE "C" NOT NULL,
            strategy          TEXT COLLATE "C" NOT NULL,
            version           TEXT COLLATE "C" NOT NULL,
            trained_at        TIMESTAMP NOT NULL,
            training_seconds  DOUBLE PRECISION NOT NULL,
            user_count        BIGINT NOT NULL,
            item_count        BIGINT NOT NULL,
            event_count       BIGINT NOT NULL,
            parameters        TEXT NOT NULL,
            metrics           TEXT NOT NULL,
            path              TEXT NOT NULL,      -- relative to the data directory
            serving           BOOLEAN NOT NULL,
            checksum          TEXT NOT NULL DEFAULT '',  -- sha256 of the version's manifest
            PRIMARY KEY (catalog, strategy, version)
        );
        CREATE TABLE training_runs (
            catalog            TEXT COLLATE "C" NOT NULL,
            candidate_version  TEXT COLLATE "C" NOT NULL,
            promoted           BOOLEAN NOT NULL,
            metric             TEXT NOT NULL,
            candidate_value    DOUBLE PRECISION NOT NULL,
            serving_value      DOUBLE PRECISION,
            serving_version    TEXT NOT NULL,
            tolerance          DOUBLE PRECISION NOT NULL,
            reason             TEXT NOT NULL,
            decided_at         TIMESTAMP NOT NULL,
            plan               TEXT,              -- serialisers.plan_to_json, or NULL
            PRIMARY KEY (catalog, candidate_version)
        );
        CREATE TABLE segments (
            name         TEXT COLLATE "C" PRIMARY KEY,
            rule         TEXT NOT NULL,
            description  TEXT NOT NULL,
            defined_at   TIMESTAMP NOT NULL
        );
        CREATE TABLE clusters (
            name         TEXT COLLATE "C" PRIMARY KEY,
            description  TEXT NOT NULL,
            size         BIGINT NOT NULL,
            computed_at  TIMESTAMP NOT NULL
        );
        CREATE TABLE user_clusters (
            user_id  TEXT COLLATE "C" PRIMARY KEY,
            cluster  TEXT COLLATE "C" NOT NULL
        );
        -- ``seq`` is the order recorded (DuckDB's rowid).
        CREATE TABLE privacy_releases (
            seq          BIGINT GENERATED ALWAYS AS IDENTITY,
            catalog      TEXT COLLATE "C" NOT NULL,
            kind         TEXT NOT NULL,
            scope        TEXT NOT NULL,
            epsilon      DOUBLE PRECISION NOT NULL,
            delta        DOUBLE PRECISION NOT NULL,
            released_at  TIMESTAMP NOT NULL,
            description  TEXT NOT NULL
        );
        CREATE INDEX privacy_releases_catalog_time ON privacy_releases (catalog, released_at);
        CREATE TABLE privacy_last_releases (
            catalog      TEXT COLLATE "C" NOT NULL,
            kind         TEXT COLLATE "C" NOT NULL,
            scope        TEXT COLLATE "C" NOT NULL,
            keys         TEXT[] NOT NULL,
            "values"     DOUBLE PRECISION[] NOT NULL,
            released_at  TIMESTAMP NOT NULL,
            description  TEXT NOT NULL,
            PRIMARY KEY (catalog, kind, scope)
        );
        CREATE TABLE experiments (
            name                        TEXT COLLATE "C" PRIMARY KEY,
            catalog                     TEXT NOT NULL,
            description                 TEXT NOT NULL,
            variants                    TEXT NOT NULL,   -- JSON list, control first
            attribution_window_seconds  DOUBLE PRECISION NOT NULL,
            status                      TEXT NOT NULL,
            created_at                  TIMESTAMP NOT NULL,
            started_at                  TIMESTAMP,
            stopped_at                  TIMESTAMP
        );
        CREATE TABLE impressions (
            recommendation_id  TEXT COLLATE "C" NOT NULL,
            experiment         TEXT COLLATE "C" NOT NULL,
            variant            TEXT COLLATE "C" NOT NULL,
            user_id            TEXT COLLATE "C" NOT NULL,
            catalog            TEXT COLLATE "C" NOT NULL,
            item_ids           TEXT[] NOT NULL,
            served_at          TIMESTAMP NOT NULL
        );
        CREATE INDEX impressions_experiment ON impressions (experiment);
        CREATE INDEX impressions_user ON impressions (user_id);
        """
    )


MIGRATIONS: tuple[Migration, ...] = (m001_initial,)


def migrate(db: psycopg.Connection) -> list[str]:
    """Applies the migrations not yet recorded, each in its own transaction, holding an advisory
    lock so that two servers starting together do not both apply one; returns their names."""
    newly_applied = []
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        db.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     INTEGER PRIMARY KEY,
                name        TEXT NOT NULL,
                applied_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
            )
            """
        )
        applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    for version, migration in enumerate(MIGRATIONS, start=1):
        if version in applied:
            continue
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            done = db.execute("SELECT 1 FROM schema_migrations WHERE version = %s", [version])
            if done.fetchone() is not None:  # another process applied it meanwhile
                continue
            migration(db)
            db.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                [version, migration.__name__],
            )
        newly_applied.append(migration.__name__)
    return newly_applied
