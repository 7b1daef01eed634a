"""Cold-start strategy: the most-interacted items of a catalog, weighted by event type.

Answers for every user, so it is the last fallback of the serving order. The popularity counts
are an aggregate over many users, so they pass through the aggregate guards (e.g. differential
privacy) before anyone sees them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from infogap.server.config import Settings
from infogap.server.core.modeling import (
    Aggregate,
    ModelTrainer,
    ScoreResult,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
)
from infogap.server.hookspecs import hookimpl

STRATEGY = "popularity"
AGGREGATE_KIND = "item_popularity"


class PopularityModel:
    """Scores every item by its released popularity; the same list for every user."""

    strategy = STRATEGY

    def __init__(self, scores: np.ndarray, catalog: str, user_count: int) -> None:
        self._scores = scores.astype(np.float32)
        self._reason = f"popular in {catalog}"
        self.catalog = catalog
        self.user_count = user_count
        self.parameters: Mapping[str, str] = {}
        self.metrics: Mapping[str, float] = {}

    def score_user(self, user: UserQuery) -> ScoreResult:
        return ScoreResult(self._scores, self._reason)

    def similar_items(self, item_index: int) -> None:
        return None

    def with_new_items(self, item_features: list[list[str]]) -> PopularityModel:
        # A new item has no popularity yet.
        scores = np.concatenate([self._scores, np.zeros(len(item_features), dtype=np.float32)])
        return PopularityModel(scores, self.catalog, self.user_count)

    def save(self, directory: Path) -> None:
        np.savez(directory / "popularity.npz", scores=self._scores)
        meta = {"catalog": self.catalog, "user_count": self.user_count}
        (directory / "meta.json").write_text(json.dumps(meta))


class PopularityTrainer:
    strategy = STRATEGY

    def train(self, data: TrainingData, context: TrainingContext) -> TrainedModel:
        contributions = sp.csr_matrix(data.interactions)
        aggregate = Aggregate(
            catalog=data.catalog,
            kind=AGGREGATE_KIND,
            keys=data.item_ids,
            contributions=contributions,
            values=np.asarray(contributions.sum(axis=0)).ravel(),
        )
        released = context.release_aggregate(aggregate)
        return PopularityModel(released.values, data.catalog, len(data.user_ids))

    def load(self, directory: Path, item_ids: np.ndarray) -> TrainedModel:
        with np.load(directory / "popularity.npz", allow_pickle=False) as arrays:
            scores = arrays["scores"]
        meta = json.loads((directory / "meta.json").read_text())
        if len(scores) != len(item_ids):
            raise ValueError(f"{directory}: {len(scores)} scores for {len(item_ids)} items")
        return PopularityModel(scores, meta["catalog"], meta["user_count"])


@hookimpl
def infogap_register_models(register: Callable[[ModelTrainer], None], settings: Settings) -> None:
    register(PopularityTrainer())
