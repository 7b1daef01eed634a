"""Model records: every trained model with its artifact path and its version's checksum, and
every training decision. Recording a training run, or a new checksum, notifies
``MODELS_CHANNEL`` with its catalog."""

from __future__ import annotations

from collections.abc import Sequence

from infogap.server.core.domain import ModelInfo, TrainingDecision
from infogap.server.core.errors import NotFound
from infogap.server.core.store.postgresql.connection import PostgreSQLConnection, notify
from infogap.server.core.store.records import MODELS_CHANNEL
from infogap.server.core.store.serialisers import (
    DECISION_COLUMNS,
    MODEL_COLUMNS,
    decision_from_row,
    decision_to_row,
    model_from_row,
    model_to_row,
)

_RETIRE = "UPDATE models SET serving = false WHERE catalog = %s AND strategy = %s"
_INSERT_MODEL = (
    f"INSERT INTO models ({', '.join(MODEL_COLUMNS)}, serving, checksum) "
    f"VALUES ({', '.join(['%s'] * (len(MODEL_COLUMNS) + 2))})"
)
_INSERT_DECISION = f"INSERT INTO training_runs ({', '.join(DECISION_COLUMNS)}) VALUES ({', '.join(['%s'] * len(DECISION_COLUMNS))})"
_LAST_DECISIONS = (
    f"SELECT DISTINCT ON (catalog) {', '.join(DECISION_COLUMNS)} FROM training_runs "
    "ORDER BY catalog, decided_at DESC, candidate_version DESC"
)
_TRAINING_HISTORY = (
    f"SELECT {', '.join(DECISION_COLUMNS)} FROM training_runs WHERE catalog = %s "
    "ORDER BY decided_at DESC, candidate_version DESC LIMIT %s"
)
_MODELS = f"SELECT {', '.join(MODEL_COLUMNS)} FROM models"
_SERVING_MODELS = f"{_MODELS} WHERE serving ORDER BY catalog, strategy"
_MODEL_VERSION = f"{_MODELS} WHERE catalog = %s AND version = %s ORDER BY strategy"
_VERSION_CHECKSUM = (
    "SELECT max(checksum) FROM models WHERE catalog = %s AND version = %s HAVING count(*) > 0"
)
_SET_VERSION_CHECKSUM = (
    "UPDATE models SET checksum = %s WHERE catalog = %s AND version = %s RETURNING strategy"
)


class Models(PostgreSQLConnection):
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
            notify(db, MODELS_CHANNEL, decision.catalog)

    def last_decisions(self) -> dict[str, TrainingDecision]:
        return {row[0]: decision_from_row(row) for row in self._rows(_LAST_DECISIONS)}

    def training_history(self, catalog: str, limit: int) -> list[TrainingDecision]:
        rows = self._rows(_TRAINING_HISTORY, [catalog, limit])
        return [decision_from_row(row) for row in rows]

    def serving_models(self) -> list[tuple[ModelInfo, str]]:
        return [model_from_row(r) for r in self._rows(_SERVING_MODELS)]

    def model_version(self, catalog: str, version: str) -> list[tuple[ModelInfo, str]]:
        return [model_from_row(r) for r in self._rows(_MODEL_VERSION, [catalog, version])]

    def version_checksum(self, catalog: str, version: str) -> str | None:
        rows = self._rows(_VERSION_CHECKSUM, [catalog, version])
        return str(rows[0][0]) if rows else None

    def set_version_checksum(self, catalog: str, version: str, checksum: str) -> None:
        with self._write() as db:
            if not db.execute(_SET_VERSION_CHECKSUM, [checksum, catalog, version]).fetchall():
                raise NotFound(f"catalog {catalog!r} has no model version {version!r}")
            notify(db, MODELS_CHANNEL, catalog)
