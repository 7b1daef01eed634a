"""Experiments and their impression log, and the attribution of feedback to served lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from infogap.server.core.domain import Experiment, ExperimentStatus
from infogap.server.core.errors import AlreadyExists, InvalidArgument, NotFound
from infogap.server.core.store.duckdb.connection import DuckDBConnection, registered
from infogap.server.core.store.serialisers import (
    EXPERIMENT_COLUMNS,
    experiment_from_row,
    experiment_to_row,
    status_to_text,
)

_EXISTS = "SELECT 1 FROM experiments WHERE name = ?"
_INSERT = "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The time column a status stamps: the column name comes from here, never from input.
_STAMPED_COLUMN = {ExperimentStatus.RUNNING: "started_at", ExperimentStatus.STOPPED: "stopped_at"}
_SET_STATUS = (
    "UPDATE experiments SET status = ?, {column} = ? WHERE name = ? AND status = ? RETURNING 1"
)
_EXPERIMENTS = (
    f"SELECT {', '.join(EXPERIMENT_COLUMNS)} FROM experiments ORDER BY created_at DESC, name"
)
_INSERT_IMPRESSIONS = "INSERT INTO impressions SELECT * FROM served_batch"

# Per (variant, user) of one experiment: lists served, impressions, and the feedback attributed
# to them. Feedback counts when it carries the recommendation_id of a list served to the same
# user and happens within the attribution window after it (less the allowed clock skew, as
# client clocks run early too). A click counts once per served item it lands on; conversions
# count whatever the item, since a purchase often follows a recommendation elsewhere.
EXPERIMENT_OUTCOMES_SQL = """
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


class Experiments(DuckDBConnection):
    def create_experiment(self, experiment: Experiment) -> None:
        with self._write() as db:
            if db.execute(_EXISTS, [experiment.name]).fetchall():
                raise AlreadyExists(f"an experiment named {experiment.name!r} exists already")
            db.execute(_INSERT, list(experiment_to_row(experiment)))

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
            if not db.execute(_EXISTS, [name]).fetchall():
                raise NotFound(f"no experiment is named {name!r}")
            changed = db.execute(
                _SET_STATUS.format(column=column),
                [status_to_text(status), at, name, status_to_text(expected_status)],
            ).fetchall()
        return bool(changed)

    def experiments(self) -> list[Experiment]:
        return [experiment_from_row(r) for r in self.cursor().execute(_EXPERIMENTS).fetchall()]

    def insert_impressions(self, served: pa.Table) -> None:
        with self._write() as db, registered(db, "served_batch", served):
            db.execute(_INSERT_IMPRESSIONS)

    def experiment_outcomes(
        self,
        experiment: str,
        *,
        click_types: Sequence[str],
        conversion_types: Sequence[str],
        window_seconds: float,
        skew_seconds: float,
    ) -> pa.Table:
        params = outcome_params(
            experiment, click_types, conversion_types, window_seconds, skew_seconds
        )
        return self.cursor().sql(EXPERIMENT_OUTCOMES_SQL, params=params).to_arrow_table()


def outcome_params(
    experiment: str,
    click_types: Sequence[str],
    conversion_types: Sequence[str],
    window_seconds: float,
    skew_seconds: float,
) -> dict[str, object]:
    """The named parameters of ``EXPERIMENT_OUTCOMES_SQL``."""
    return {
        "experiment": experiment,
        "click_types": list(click_types),
        "conversion_types": list(conversion_types),
        "window_us": round(window_seconds * 1e6),
        "skew_us": round(skew_seconds * 1e6),
    }
