"""Model records: every trained model with its artifact path, and every training decision."""

from __future__ import annotations

from collections.abc import Sequence

from infogap.server.core.domain import ModelInfo, TrainingDecision
from infogap.server.core.store.duckdb.connection import DuckDBConnection
from infogap.server.core.store.serialisers import (
    MODEL_COLUMNS,
    decision_from_row,
    decision_to_row,
    model_from_row,
    model_to_row,
)

_RETIRE = "UPDATE models SET serving = false WHERE catalog = ? AND strategy = ?"
_INSERT_MODEL = "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_DECISION = "INSERT INTO training_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_LAST_DECISIONS = (
    "SELECT * FROM training_runs QUALIFY row_number() OVER "
    "(PARTITION BY catalog ORDER BY decided_at DESC, candidate_version DESC) = 1"
)
_MODELS = f"SELECT {', '.join(MODEL_COLUMNS)} FROM models"
_SERVING_MODELS = f"{_MODELS} WHERE serving ORDER BY catalog, strategy"
_MODEL_VERSION = f"{_MODELS} WHERE catalog = ? AND version = ? ORDER BY strategy"


class Models(DuckDBConnection):
    def record_training(
        self, infos: Sequence[ModelInfo], paths: Sequence[str], decision: TrainingDecision
    ) -> None:
        with self._write() as db:
            for info, path in zip(infos, paths):
                if decision.promoted:
                    db.execute(_RETIRE, [info.catalog, info.strategy])
                db.execute(_INSERT_MODEL, [*model_to_row(info, path), decision.promoted])
            db.execute(_INSERT_DECISION, list(decision_to_row(decision)))

    def last_decisions(self) -> dict[str, TrainingDecision]:
        rows = self.cursor().execute(_LAST_DECISIONS).fetchall()
        return {row[0]: decision_from_row(row) for row in rows}

    def serving_models(self) -> list[tuple[ModelInfo, str]]:
        return [model_from_row(r) for r in self.cursor().execute(_SERVING_MODELS).fetchall()]

    def model_version(self, catalog: str, version: str) -> list[tuple[ModelInfo, str]]:
        rows = self.cursor().execute(_MODEL_VERSION, [catalog, version]).fetchall()
        return [model_from_row(r) for r in rows]
