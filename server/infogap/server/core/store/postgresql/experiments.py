"""Experiments and their impression log; the attribution of feedback to served lists is the
DuckDB store's SQL over the experiment's impressions and the events carrying their ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from infogap.server.core.domain import Experiment, ExperimentStatus
from infogap.server.core.errors import AlreadyExists, InvalidArgument, NotFound
from infogap.server.core.store.duckdb.experiments import EXPERIMENT_OUTCOMES_SQL, outcome_params
from infogap.server.core.store.postgresql.connection import PostgreSQLConnection
from infogap.server.core.store.records import IMPRESSION_SCHEMA
from infogap.server.core.store.serialisers import (
    EXPERIMENT_COLUMNS,
    experiment_from_row,
    experiment_to_row,
    status_to_text,
)

_INSERT = (
    f"INSERT INTO experiments ({', '.join(EXPERIMENT_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(EXPERIMENT_COLUMNS))}) ON CONFLICT (name) DO NOTHING"
)
_EXISTS = "SELECT 1 FROM experiments WHERE name = %s"
_STAMPED_COLUMN = {ExperimentStatus.RUNNING: "started_at", ExperimentStatus.STOPPED: "stopped_at"}
_SET_STATUS = (
    "UPDATE experiments SET status = %s, {column} = %s WHERE name = %s AND status = %s RETURNING 1"
)
_EXPERIMENTS = (
    f"SELECT {', '.join(EXPERIMENT_COLUMNS)} FROM experiments ORDER BY created_at DESC, name"
)
_INSERT_IMPRESSIONS = (
    f"INSERT INTO impressions ({', '.join(IMPRESSION_SCHEMA.names)}) "
    f"VALUES ({', '.join(['%s'] * len(IMPRESSION_SCHEMA))})"
)
_SERVED = f"SELECT {', '.join(IMPRESSION_SCHEMA.names)} FROM impressions WHERE experiment = $1"
_ATTRIBUTABLE_EVENTS = """
    SELECT e.event_id, e.user_id, e.item_id, e.type, e.value, e.event_time, e.recommendation_id
    FROM events e WHERE e.recommendation_id IN
        (SELECT recommendation_id FROM impressions WHERE experiment = $1)
"""


class Experiments(PostgreSQLConnection):
    def create_experiment(self, experiment: Experiment) -> None:
        with self._write() as db:
            created = db.execute(_INSERT, list(experiment_to_row(experiment))).rowcount
            if not created:
                raise AlreadyExists(f"an experiment named {experiment.name!r} exists already")

    def set_experiment_status(
        self,
        name: str,
        status: ExperimentStatus,
        at: datetime,
        expected_status: ExperimentStatus,
    ) -> bool:
        column = _STAMPED_COLUMN.get(status)
        if column is None:
            raise InvalidArgument("status", f"{status!r} is neither 'running' nor 'stopped'")
        with self._write() as db:
            if db.execute(_EXISTS, [name]).fetchone() is None:
                raise NotFound(f"no experiment is named {name!r}")
            changed = db.execute(
                _SET_STATUS.format(column=column),
                [status_to_text(status), at, name, status_to_text(expected_status)],
            ).fetchall()
        return bool(changed)

    def experiments(self) -> list[Experiment]:
        return [experiment_from_row(r) for r in self._rows(_EXPERIMENTS)]

    def insert_impressions(self, served: pa.Table) -> None:
        columns = [served.column(name).to_pylist() for name in IMPRESSION_SCHEMA.names]
        with self._write() as db, db.cursor() as cursor:
            cursor.executemany(_INSERT_IMPRESSIONS, list(zip(*columns)))

    def experiment_outcomes(
        self,
        experiment: str,
        *,
        click_types: Sequence[str],
        conversion_types: Sequence[str],
        window_seconds: float,
        skew_seconds: float,
    ) -> pa.Table:
        tables = {
            "impressions": self._arrow(_SERVED, [experiment]),
            "events": self._arrow(_ATTRIBUTABLE_EVENTS, [experiment]),
        }
        params = outcome_params(
            experiment, click_types, conversion_types, window_seconds, skew_seconds
        )
        return self._analyse(tables, EXPERIMENT_OUTCOMES_SQL, params)
