"""Model records: every trained model with its artifact path and its version's checksum, and
every training decision."""

from __future__ import annotations

from collections.abc import Sequence

from infogap.server.core.domain import ModelInfo, TrainingDecision
from infogap.server.core.errors import NotFound
from infogap.server.core.store.duckdb.connection import DuckDBConnection
from infogap.server.core.store.serialisers import (
    MODEL_COLUMNS,
    decision_from_row,
    decision_to_row,
    model_from_row,
    model_to_row,
)

_RETIRE = "UPDATE models SET serving = false WHERE catalog = ? AND strategy = ?"
_INSERT_MODEL = (
    f"INSERT INTO models ({', '.join(MODEL_COLUMNS)}, serving, checksum) "
    f"VALUES ({', '.join('?' * (len(MODEL_COLUMNS) + 2))})"
)
_INSERT_DECISION = "INSERT INTO training_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_LAST_DECISIONS = (
    "SELECT * FROM training_runs QUALIFY row_number() OVER "
    "(PARTITION BY catalog ORDER BY decided_at DESC, candidate_version DESC) = 1"
)
_TRAINING_HISTORY = (
    "SELECT * FROM training_runs WHERE catalog = ? "
    "ORDER BY decided_at DESC, candidate_version DESC LIMIT ?"
)
_MODELS = f"SELECT {', '.join(MODEL_COLUMNS)} FROM models"
_SERVING_MODELS = f"{_MODELS} WHERE serving ORDER BY catalog, strategy"
_MODEL_VERSION = f"{_MODELS} WHERE catalog = ? AND version = ? ORDER BY strategy"
# Every row of a version has the same checksum; NULL only on rows older than the column.
_VERSION_CHECKSUM = (
    "SELECT coalesce(max(checksum), '') FROM models WHERE catalog = ? AND version = ? "
    "HAVING count(*) > 0"
)
_SET_VERSION_CHECKSUM = (
    "UPDATE models SET checksum = ? WHERE catalog = ? AND version = ? RETURNING strategy"
)


class Models(DuckDBConnection):
    def record_training(
        self,
        infos: Sequence[ModelInfo],
        paths: Sequence[str],
        decision: TrainingDecision,
        checksum: str = "",
    ) -> None:
        with self._write() as db:
            for info, path in zip(infos, paths):
                if decision.promoted:
                    db.execute(_RETIRE, [info.catalog, info.strategy])
                row = [*model_to_row(info, path), decision.promoted, checksum]
                db.execute(_INSERT_MODEL, row)
            db.execute(_INSERT_DECISION, list(decision_to_row(decision)))

    def last_decisions(self) -> dict[str, TrainingDecision]:
        rows = self.cursor().execute(_LAST_DECISIONS).fetchall()
        return {row[0]: decision_from_row(row) for row in rows}

    def training_history(self, catalog: str, limit: int) -> list[TrainingDecision]:
        rows = self.cursor().execute(_TRAINING_HISTORY, [catalog, limit]).fetchall()
        return [decision_from_row(row) for row in rows]

    def serving_models(self) -> list[tuple[ModelInfo, str]]:
        return [model_from_row(r) for r in self.cursor().execute(_SERVING_MODELS).fetchall()]

    def model_version(self, catalog: str, version: str) -> list[tuple[ModelInfo, str]]:
        rows = self.cursor().execute(_MODEL_VERSION, [catalog, version]).fetchall()
        return [model_from_row(r) for r in rows]

    def version_checksum(self, catalog: str, version: str) -> str | None:
        rows = self.cursor().execute(_VERSION_CHECKSUM, [catalog, version]).fetchall()
        return str(rows[0][0]) if rows else None

    def set_version_checksum(self, catalog: str, version: str, checksum: str) -> None:
        with self._write() as db:
            updated = db.execute(_SET_VERSION_CHECKSUM, [checksum, catalog, version]).fetchall()
            if not updated:
                raise NotFound(f"catalog {catalog!r} has no model version {version!r}")
