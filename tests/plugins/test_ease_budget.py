"""EASE foresees how long its inversion takes and declines a catalog it cannot fit in time."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from infogap.plugins.ease import FORESEEN_FROM, EASEConfig, EASETrainer, foreseen_seconds
from infogap.server.plugin import FeatureMatrix, ModelSkipped, TrainingContext, TrainingData


def wide_catalog(items: int, users: int = 300, seed: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(users), items // 50)
    cols = np.concatenate([rng.choice(items, items // 50, replace=False) for _ in range(users)])
    cols[:items] = np.arange(items)  # every item has an event
    shape = (users, items)
    return TrainingData(
        catalog="c",
        user_ids=np.array([f"u{u}" for u in range(users)], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(items)], dtype=object),
        interactions=sp.coo_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=shape),
        user_features=FeatureMatrix.from_rows([[] for _ in range(users)]),
        item_features=FeatureMatrix.from_rows([[] for _ in range(items)]),
        event_count=len(cols),
    )


def test_the_forecast_grows_with_the_cube_of_the_item_count():
    small, large = foreseen_seconds(2_000), foreseen_seconds(4_000)
    assert 0 < small < large and 2 < large / small < 32  # 8 in theory; the machine is noisy


def test_a_fit_foreseen_over_the_budget_is_skipped_saying_why():
    data = wide_catalog(FORESEEN_FROM)
    trainer = EASETrainer(EASEConfig())
    with pytest.raises(ModelSkipped) as skipped:
        trainer.train(data, TrainingContext("c", lambda a: a, time_budget_seconds=1e-6))
    assert f"inverting {FORESEEN_FROM:,} items' Gram matrix" in skipped.value.reason
    assert "1e-06 s budget" in skipped.value.reason
    model = trainer.train(data, TrainingContext("c", lambda a: a, time_budget_seconds=None))
    assert model.metrics["items_fitted"] == FORESEEN_FROM
