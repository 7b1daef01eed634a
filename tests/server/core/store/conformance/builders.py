"""What the conformance tests build their data from: times, type weights and batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from infogap.server.core.domain import (
    BucketPlan,
    CandidateScore,
    Experiment,
    ExperimentStatus,
    ModelInfo,
    ServingPlan,
    TrainingDecision,
    Variant,
)
from infogap.server.core.store import EVENT_SCHEMA, IMPRESSION_SCHEMA, PrivacyRelease, Store

Backend = Callable[[Path], Store]

T0 = datetime(2024, 3, 10, 12, 0, 0, 123456)
DAY = timedelta(days=1)
# click: 1 per event; purchase: 5; rating: stars from 4 up, 1 * (stars - 4 + 1). "view" is not
# weighted at all.
TYPE_WEIGHTS = pa.table(
    {
        "type": ["click", "purchase", "rating"],
        "weight": [1.0, 5.0, 1.0],
        "positive_from": pa.array([None, None, 4.0], pa.float64()),
    }
)


def open_store(backend: Backend, folder: Path) -> Iterator[Store]:
    """A store of ``backend`` on ``folder``, closed afterwards (for a ``store`` fixture)."""
    store = backend(folder)
    yield store
    store.close()


def events(*rows: dict[str, Any]) -> pa.Table:
    """An ``EVENT_SCHEMA`` batch; each row gives at least event_id and user_id."""
    defaults = {
        "item_id": "i1",
        "catalog": "c",
        "type": "click",
        "value": 1.0,
        "event_time": T0,
        "recommendation_id": "",
        "context": "{}",
        "received_at": T0,
    }
    return pa.Table.from_pylist([{**defaults, **row} for row in rows], schema=EVENT_SCHEMA)


def impressions(*rows: tuple[str, str, str, str, list[str], datetime]) -> pa.Table:
    """An ``IMPRESSION_SCHEMA`` batch of (recommendation, experiment, variant, user, items,
    served at) in catalog "c"."""
    return pa.Table.from_pylist(
        [
            dict(zip(IMPRESSION_SCHEMA.names, (rec, exp, variant, user, "c", items, at)))
            for rec, exp, variant, user, items, at in rows
        ],
        schema=IMPRESSION_SCHEMA,
    )


def model(strategy: str, version: str, catalog: str = "c") -> ModelInfo:
    return ModelInfo(
        catalog=catalog,
        strategy=strategy,
        version=version,
        trained_at=T0,
        training_seconds=1.5,
        user_count=3,
        item_count=4,
        event_count=10,
        parameters={"epochs": "10"},
        metrics={"ndcg": 0.25},
    )


PLAN = ServingPlan(
    "ndcg@10",
    "popularity",
    (
        BucketPlan(0, 4, 30, "popularity", "", 0.0, (CandidateScore("popularity", 0.2),), "r0"),
        BucketPlan(
            5,
            None,
            0,
            "als",
            "popularity",
            0.25,
            (CandidateScore("als", 0.3), CandidateScore("blend:als+popularity@0.25", 0.31)),
            "r1",
        ),
    ),
)


def decision(version: str, promoted: bool, at: datetime = T0, catalog: str = "c"):
    """A training decision; promoted ones carry ``PLAN``."""
    return TrainingDecision(
        catalog=catalog,
        candidate_version=version,
        promoted=promoted,
        metric="ndcg",
        candidate_value=0.25,
        serving_value=None if promoted else 0.3,
        serving_version="" if promoted else "v0",
        tolerance=0.01,
        reason="why",
        decided_at=at,
        plan=PLAN if promoted else None,
    )


def experiment(name: str, created_at: datetime = T0) -> Experiment:
    return Experiment(
        name=name,
        catalog="c",
        variants=(
            Variant("control", 0.5),
            Variant("treatment", 0.5, ("als",), False, "v1", ("diversity",)),
        ),
        description="a test",
        attribution_window_seconds=3600.0,
        status=ExperimentStatus.DRAFT,
        created_at=created_at,
    )


def release(epsilon: float, at: datetime = T0, kind: str = "popularity") -> PrivacyRelease:
    return PrivacyRelease(kind, "", epsilon, 0.0, at, f"{kind} at {epsilon:g}")


def pairs(found: tuple[np.ndarray, np.ndarray]) -> list[tuple[str, str]]:
    return sorted(zip(found[0].tolist(), found[1].tolist()))
