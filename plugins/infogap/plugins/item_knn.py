"""Item-based neighbours from ``implicit``: cosine (``item_knn``) and BM25 (``item_knn_bm25``).

Training keeps, for every item, its ``neighbours`` most similar items (a sparse items x items
matrix, so it scales past 100,000 items). A user is scored from their history as it is now:
their training row plus the items they touched since (``UserQuery.recent_item_positions``),
times the similarity matrix. A user never seen is scored from their recent items alone; a user
with neither gets None (the next strategy answers).

Options: ``[plugin_config.item_knn]`` (``ItemKNNConfig``), for both strategies.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, ItemItemRecommender
from pydantic import BaseModel, ConfigDict, Field

from infogap.plugins.histories import (
    Histories,
    history_contributions,
    training_rows,
    user_reason,
)
from infogap.server.plugin import (
    Contribution,
    ModelTrainer,
    ScoreResult,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
)

COSINE = "item_knn"
BM25 = "item_knn_bm25"
SIMILARITY_FILE = "similarity.npz"  # scipy sparse, saved without pickle
META_FILE = "meta.json"


class ItemKNNConfig(BaseModel):
    """Item-based neighbours: the ``[plugin_config.item_knn]`` section."""

    model_config = ConfigDict(extra="forbid")

    neighbours: int = Field(
        default=100, ge=1, description="Similar items kept per item (K): the matrix is sparse."
    )
    bm25_k1: float = Field(default=1.2, ge=0, description="BM25 term saturation (item_knn_bm25).")
    bm25_b: float = Field(
        default=0.75, ge=0, le=1, description="BM25 length normalisation (item_knn_bm25)."
    )
    num_threads: int = Field(
        default=1, ge=1, description="Threads of implicit's similarity search."
    )


class ItemKNNModel:
    """A sparse item-item similarity matrix and the histories of the users it knows."""

    def __init__(
        self,
        strategy: str,
        similarity: sp.csr_matrix,
        histories: Histories,
        item_ids: np.ndarray,
        parameters: Mapping[str, str],
        metrics: Mapping[str, float],
    ) -> None:
        self.strategy = strategy
        self._similarity = sp.csr_matrix(similarity, dtype=np.float32)
        self._histories = histories
        self._item_ids = item_ids
        self.parameters = parameters
        self.metrics = metrics
        self.user_count = len(histories)

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        history = self._histories.current(user)
        if history is None:
            return None
        positions, weights = history
        # The history row times the similarities: a sum of the touched items' neighbour rows.
        rows = self._similarity[positions]
        scores = np.asarray(rows.T @ weights, dtype=np.float32).ravel()
        return ScoreResult(scores, user_reason(positions, weights, self._item_ids))

    def similar_items(self, item_index: int) -> np.ndarray:
        return self._similarity[item_index].toarray().ravel()

    def explain(
        self, user: UserQuery, item_positions: np.ndarray, limit: int
    ) -> list[list[Contribution]]:
        """The user's items whose similarity (times their weight) adds most to each item's
        score: the terms of the sum ``score_user`` computes."""
        history = self._histories.current(user)
        if history is None:
            return [[] for _ in item_positions]
        positions, weights = history
        pull = self._similarity[positions][:, item_positions].toarray() * weights[:, None]
        return history_contributions(pull.T, positions, limit)

    def without_user(self, user_id: str) -> ItemKNNModel:
        """The model without the user's history and id (erasure)."""
        return ItemKNNModel(
            self.strategy,
            self._similarity,
            self._histories.without(user_id),
            self._item_ids,
            self.parameters,
            self.metrics,
        )

    def save(self, directory: Path) -> None:
        sp.save_npz(directory / SIMILARITY_FILE, self._similarity)
        self._histories.save(directory)
        meta = {"parameters": dict(self.parameters), "metrics": dict(self.metrics)}
        (directory / META_FILE).write_text(json.dumps(meta))


class ItemKNNTrainer:
    """Fits one of implicit's item-item recommenders and keeps its similarity matrix."""

    def __init__(self, strategy: str, config: ItemKNNConfig) -> None:
        if strategy not in (COSINE, BM25):
            raise ValueError(f"unknown item-kNN strategy {strategy!r}")
        self.strategy = strategy
        self._config = config

    def _recommender(self) -> ItemItemRecommender:
        c = self._config
        if self.strategy == BM25:
            return BM25Recommender(
                K=c.neighbours, K1=c.bm25_k1, B=c.bm25_b, num_threads=c.num_threads
            )
        return CosineRecommender(K=c.neighbours, num_threads=c.num_threads)

    def train(self, data: TrainingData, context: TrainingContext) -> ItemKNNModel:
        rows = training_rows(data.interactions)
        recommender = self._recommender()
        started = time.perf_counter()
        with warnings.catch_warnings():
            # implicit converts its own weighted COO matrix to CSR and says so.
            warnings.simplefilter("ignore")
            recommender.fit(rows, show_progress=False)
        fit_seconds = time.perf_counter() - started
        similarity = sp.csr_matrix(recommender.similarity, dtype=np.float32)
        similarity.eliminate_zeros()
        c = self._config
        parameters = {"neighbours": str(c.neighbours)}
        if self.strategy == BM25:
            parameters |= {"bm25_k1": str(c.bm25_k1), "bm25_b": str(c.bm25_b)}
        return ItemKNNModel(
            self.strategy,
            similarity,
            Histories(data.user_ids, rows),
            data.item_ids,
            parameters,
            {"fit_seconds": fit_seconds, "similarities": float(similarity.nnz)},
        )

    def load(self, directory: Path, item_ids: np.ndarray) -> ItemKNNModel:
        meta = json.loads((directory / META_FILE).read_text())
        similarity = sp.load_npz(directory / SIMILARITY_FILE).tocsr()
        if similarity.shape != (len(item_ids), len(item_ids)):
            raise ValueError(f"{directory}: similarities of {similarity.shape} for {len(item_ids)}")
        return ItemKNNModel(
            self.strategy,
            similarity,
            Histories.load(directory),
            item_ids,
            meta["parameters"],
            meta["metrics"],
        )


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return ItemKNNConfig


@hookimpl
def infogap_register_models(
    register: Callable[[ModelTrainer], None], config: ItemKNNConfig
) -> None:
    register(ItemKNNTrainer(COSINE, config))
    register(ItemKNNTrainer(BM25, config))
