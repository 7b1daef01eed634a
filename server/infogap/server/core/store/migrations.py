"""Schema migrations: numbered functions, each applied once and recorded in ``schema_migrations``.

Add a migration by appending a function to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_initial(db: duckdb.DuckDBPyConnection) -> None:
    db.execute(
        """
        CREATE TABLE users (
            user_id     VARCHAR PRIMARY KEY,
            attributes  JSON NOT NULL,          -- object of string values, as the CRM sent it
            updated_at  TIMESTAMP NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE items (
            catalog     VARCHAR NOT NULL,
            item_id     VARCHAR NOT NULL,
            attributes  JSON NOT NULL,
            tags        VARCHAR[] NOT NULL,
            active      BOOLEAN NOT NULL,
            updated_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (catalog, item_id)
        )
        """
    )
    # Append-only. The primary key on event_id is what makes recording idempotent.
    db.execute(
        """
        CREATE TABLE events (
            event_id           VARCHAR PRIMARY KEY,
            user_id            VARCHAR NOT NULL,
            item_id            VARCHAR NOT NULL,
            catalog            VARCHAR NOT NULL,
            type               VARCHAR NOT NULL,
            value              DOUBLE NOT NULL,
            event_time         TIMESTAMP NOT NULL,
            recommendation_id  VARCHAR NOT NULL,
            context            VARCHAR NOT NULL,  -- JSON text; not cast on the ingest path
            received_at        TIMESTAMP NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE models (
            catalog           VARCHAR NOT NULL,
            strategy          VARCHAR NOT NULL,
            version           VARCHAR NOT NULL,
            trained_at        TIMESTAMP NOT NULL,
            training_seconds  DOUBLE NOT NULL,
            user_count        BIGINT NOT NULL,
            item_count        BIGINT NOT NULL,
            event_count       BIGINT NOT NULL,
            parameters        JSON NOT NULL,
            metrics           JSON NOT NULL,
            path              VARCHAR NOT NULL,   -- relative to the data directory
            serving           BOOLEAN NOT NULL,
            PRIMARY KEY (catalog, strategy, version)
        )
        """
    )


def m002_training_runs(db: duckdb.DuckDBPyConnection) -> None:
    # One row per training run: the promotion decision and the figures behind it.
    db.execute(
        """
        CREATE TABLE training_runs (
            catalog            VARCHAR NOT NULL,
            candidate_version  VARCHAR NOT NULL,
            promoted           BOOLEAN NOT NULL,
            metric             VARCHAR NOT NULL,
            candidate_value    DOUBLE NOT NULL,
            serving_value      DOUBLE,
            serving_version    VARCHAR NOT NULL,
            tolerance          DOUBLE NOT NULL,
            reason             VARCHAR NOT NULL,
            decided_at         TIMESTAMP NOT NULL,
            PRIMARY KEY (catalog, candidate_version)
        )
        """
    )


def m003_profiles_and_segments(db: duckdb.DuckDBPyConnection) -> None:
    # No index on events(user_id): it cost a fifth of ingestion throughput and saved little
    # on a profile (computed profiles are cached per user until the user's data changes).
    db.execute(
        """
        CREATE TABLE segments (
            name         VARCHAR PRIMARY KEY,
            rule         VARCHAR NOT NULL,
            description  VARCHAR NOT NULL,
            defined_at   TIMESTAMP NOT NULL
        )
        """
    )
    # Data-driven segments, replaced whole each time they are recomputed.
    db.execute(
        """
        CREATE TABLE clusters (
            name         VARCHAR PRIMARY KEY,
            description  VARCHAR NOT NULL,
            size         BIGINT NOT NULL,
            computed_at  TIMESTAMP NOT NULL
        )
        """
    )
    db.execute("CREATE TABLE user_clusters (user_id VARCHAR PRIMARY KEY, cluster VARCHAR NOT NULL)")


def m004_privacy_ledger(db: duckdb.DuckDBPyConnection) -> None:
    # Append-only: every differentially private release and the budget it spent (0 for a reuse).
    db.execute(
        """
        CREATE TABLE privacy_releases (
            catalog      VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL,   -- e.g. item_popularity
            scope        VARCHAR NOT NULL,   -- the users it covers, e.g. a segment; '' for all
            epsilon      DOUBLE NOT NULL,
            delta        DOUBLE NOT NULL,
            released_at  TIMESTAMP NOT NULL,
            description  VARCHAR NOT NULL
        )
        """
    )
    # The latest noisy values of each release, kept so that they can be reused for free once
    # the budget is spent (post-processing a release costs no privacy).
    db.execute(
        """
        CREATE TABLE privacy_last_releases (
            catalog      VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL,
            scope        VARCHAR NOT NULL,
            keys         VARCHAR[] NOT NULL,
            "values"     DOUBLE[] NOT NULL,
            released_at  TIMESTAMP NOT NULL,
            description  VARCHAR NOT NULL,
            PRIMARY KEY (catalog, kind, scope)
        )
        """
    )


def m005_experiments(db: duckdb.DuckDBPyConnection) -> None:
    db.execute(
        """
        CREATE TABLE experiments (
            name                        VARCHAR PRIMARY KEY,
            catalog                     VARCHAR NOT NULL,
            description                 VARCHAR NOT NULL,
            variants                    JSON NOT NULL,   -- list of variant objects, control first
            attribution_window_seconds  DOUBLE NOT NULL,
            status                      VARCHAR NOT NULL,
            created_at                  TIMESTAMP NOT NULL,
            started_at                  TIMESTAMP,
            stopped_at                  TIMESTAMP
        )
        """
    )
    # One row per list served to a user inside an experiment: its items are the impressions,
    # and feedback carrying the recommendation_id is attributed through it. No primary key:
    # ids are random 128-bit values, and a key would slow the background writes.
    db.execute(
        """
        CREATE TABLE impressions (
            recommendation_id  VARCHAR NOT NULL,
            experiment         VARCHAR NOT NULL,
            variant            VARCHAR NOT NULL,
            user_id            VARCHAR NOT NULL,
            catalog            VARCHAR NOT NULL,
            item_ids           VARCHAR[] NOT NULL,
            served_at          TIMESTAMP NOT NULL
        )
        """
    )


def m006_serving_plans(db: duckdb.DuckDBPyConnection) -> None:
    # The serving plan a training run chose per activity bucket, with its figures (JSON text
    # of serialisers.plan_to_json); NULL for runs without validation and runs before it.
    db.execute("ALTER TABLE training_runs ADD COLUMN plan VARCHAR")


def m007_model_checksums(db: duckdb.DuckDBPyConnection) -> None:
    # The sha256 of each model version's MANIFEST.json (core.models.artifacts), the same on
    # every row of the version; '' for versions recorded before it.
    db.execute("ALTER TABLE models ADD COLUMN checksum VARCHAR DEFAULT ''")


def m008_events_by_user(db: duckdb.DuckDBPyConnection) -> None:
    # GetProfile reads one user's events through it (a few ms at 1,000,000 events, against
    # 20 to 35 ms for a scan of the column when the user's events are spread over the table).
    db.execute("CREATE INDEX events_user_id ON events (user_id)")


MIGRATIONS: tuple[Migration, ...] = (
    m001_initial,
    m002_training_runs,
    m003_profiles_and_segments,
    m004_privacy_ledger,
    m005_experiments,
    m006_serving_plans,
    m007_model_checksums,
    m008_events_by_user,
)


def migrate(db: duckdb.DuckDBPyConnection) -> list[str]:
    """Applies the migrations not yet recorded, each in its own transaction; returns their names."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     INTEGER PRIMARY KEY,
            name        VARCHAR NOT NULL,
            applied_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations").fetchall()}
    newly_applied = []
    for version, migration in enumerate(MIGRATIONS, start=1):
        if version in applied:
            continue
        db.execute("BEGIN TRANSACTION")
        try:
            migration(db)
            db.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [version, migration.__name__],
            )
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        newly_applied.append(migration.__name__)
    return newly_applied
